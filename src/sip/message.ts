/**
 * SIP messages: the header list in wire order (names as written, canonical keys for
 * lookup), the body as bytes, and lazily parsed structured views of the headers the
 * roles use. A header that was not modified keeps its original bytes, so a forwarded
 * message is byte-faithful except where it was changed.
 */
import { headerKey, canonicalName } from './headers/names.js';
import { SipHeaderError, splitList } from './headers/lex.js';
import { formatVia, parseVia, parseVias, type Via } from './headers/via.js';
import { parseContacts, parseNameAddr, parseNameAddrList, type ContactStar, type NameAddr } from './headers/name-addr.js';
import { parseCSeq, parseDeltaSeconds, parseMediaType, parseTokenList, parseUint, type CSeq, type MediaType } from './headers/misc.js';
import { parseAuth, type AuthValue } from './headers/auth.js';
import { parseSecurity, type SecurityMechanism } from './headers/security.js';
import { parseUri, type Uri } from './headers/uri.js';
import type { MessageSource } from './transport/types.js';

export interface SipHeader {
  /** Name as written on the wire (or as given when created). */
  name: string;
  /** Lower-cased full name: compact forms map to their long name (`v` → `via`). */
  key: string;
  /** Value with line folding replaced by a space, trimmed. */
  value: string;
  /** Byte range of the original line(s) incl. line end in the source buffer; -1 once modified. */
  start: number;
  end: number;
}

const EMPTY = Buffer.alloc(0);

export abstract class SipMessage {
  headers: SipHeader[];
  body: Buffer;
  /** Bytes this message was parsed from (for byte-faithful re-serialisation). */
  source: Buffer | undefined;
  /** Byte range of the start line incl. line end in `source`; start = -1 once modified. */
  startLineRange: [number, number] = [-1, -1];
  /**
   * Parsed views by header key, as flat triples (key, kind, value): a message reads two or
   * three (Contact, Authorization, Expires), and a Map per message with a wrapper per entry
   * cost more than a scan of a short array (docs/performance.md, "SBC and SIP stack
   * (session 9)"). One header can be read in more than one way (a Security-Client as
   * mechanisms or as tokens), so each entry says which reading it holds.
   */
  private views: unknown[] | undefined;
  /**
   * The views every message has read when it arrives (parse.ts validates them) live in
   * fields of their own rather than in `views`: a Map per message and a wrapper per entry
   * were a measurable share of the SIP stack's time (docs/performance.md, SBC session 5).
   * undefined: not read yet; null (Max-Forwards): read, absent.
   */
  private vVias: Via[] | undefined;
  private vFrom: NameAddr | undefined;
  private vTo: NameAddr | undefined;
  private vCallId: string | undefined;
  private vCseq: CSeq | undefined;
  private vMaxForwards: number | null | undefined;
  /** Where a received message came from (transport, address, port, connection); undefined for one built here. */
  receivedFrom: MessageSource | undefined;

  constructor(headers: SipHeader[] = [], body: Buffer = EMPTY) {
    this.headers = headers;
    this.body = body;
    this.source = undefined;
    this.receivedFrom = undefined;
    this.vVias = undefined;
    this.vFrom = undefined;
    this.vTo = undefined;
    this.vCallId = undefined;
    this.vCseq = undefined;
    this.vMaxForwards = undefined;
  }

  abstract isRequest(): this is SipRequest;
  abstract clone(): SipMessage;

  protected copyInto<T extends SipMessage>(m: T): T {
    // header objects are replaced, never mutated, so sharing them is safe
    m.headers = this.headers.slice();
    m.body = this.body;
    m.source = this.source;
    m.startLineRange = this.startLineRange;
    m.receivedFrom = this.receivedFrom;
    return m;
  }
  abstract isResponse(): this is SipResponse;

  // ---- raw header access -------------------------------------------------

  /** First value of a header (any spelling or compact form), or undefined. */
  get(name: string): string | undefined {
    const k = headerKey(name);
    for (const h of this.headers) if (h.key === k) return h.value;
    return undefined;
  }

  /** Every header line of that name, in order. */
  getAll(name: string): string[] {
    const k = headerKey(name);
    const out: string[] = [];
    for (const h of this.headers) if (h.key === k) out.push(h.value);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** The comma-separated elements of every line of a list header, in order. */
  list(name: string): string[] {
    const out: string[] = [];
    for (const v of this.getAll(name)) for (const item of splitList(v)) if (item) out.push(item);
    return out;
  }

  /** Replaces the first line of that name (removing the others) or appends one. */
  set(name: string, value: string): this {
    const k = headerKey(name);
    const hs = this.headers;
    let first = -1;
    let more = false;
    for (let i = 0; i < hs.length; i++) {
      if (hs[i]!.key !== k) continue;
      if (first < 0) first = i;
      else {
        more = true;
        break;
      }
    }
    // each message owns its array (clone copies it) and header objects are replaced, never
    // mutated: the common case (none or one line) edits in place, without a new list
    if (first < 0) hs.push(newHeader(name, value));
    else {
      hs[first] = { name: hs[first]!.name, key: k, value, start: -1, end: -1 };
      if (more) this.headers = hs.filter((h, i) => i <= first || h.key !== k);
    }
    this.invalidate(k);
    return this;
  }

  append(name: string, value: string): this {
    this.headers.push(newHeader(name, value));
    this.invalidate(headerKey(name));
    return this;
  }

  /** Inserts a line before the first line of the same name (or at the top): Via, Record-Route, Route pushes. */
  prepend(name: string, value: string): this {
    const h = newHeader(name, value);
    const idx = this.headers.findIndex((x) => x.key === h.key);
    this.headers.splice(idx < 0 ? 0 : idx, 0, h);
    this.invalidate(h.key);
    return this;
  }

  /** Removes every line of that name; returns how many. */
  remove(name: string): number {
    const k = headerKey(name);
    const hs = this.headers;
    let i = 0;
    while (i < hs.length && hs[i]!.key !== k) i++;
    if (i === hs.length) return 0; // most removals find nothing: no new list
    const before = hs.length;
    this.headers = hs.filter((h) => h.key !== k);
    this.invalidate(k);
    return before - this.headers.length;
  }

  /** Removes the first element of a list header (even when it shares a line with others) and returns it. */
  shift(name: string): string | undefined {
    const k = headerKey(name);
    const idx = this.headers.findIndex((h) => h.key === k);
    if (idx < 0) return undefined;
    const h = this.headers[idx]!;
    const items = splitList(h.value);
    const first = items.shift();
    if (items.length === 0) this.headers.splice(idx, 1);
    else this.headers[idx] = { name: h.name, key: k, value: items.join(', '), start: -1, end: -1 };
    this.invalidate(k);
    return first;
  }

  /** Replaces the first element of a list header, keeping the others on its line. */
  replaceFirst(name: string, value: string): this {
    const k = headerKey(name);
    const idx = this.headers.findIndex((h) => h.key === k);
    if (idx < 0) return this.append(name, value);
    const h = this.headers[idx]!;
    const items = splitList(h.value);
    items[0] = value;
    this.headers[idx] = { name: h.name, key: k, value: items.join(', '), start: -1, end: -1 };
    this.invalidate(k);
    return this;
  }

  private invalidate(key: string): void {
    switch (key) {
      case 'via':
        this.vVias = undefined;
        break;
      case 'from':
        this.vFrom = undefined;
        break;
      case 'to':
        this.vTo = undefined;
        break;
      case 'call-id':
        this.vCallId = undefined;
        break;
      case 'cseq':
        this.vCseq = undefined;
        break;
      case 'max-forwards':
        this.vMaxForwards = undefined;
        break;
    }
    const v = this.views;
    if (v === undefined) return;
    for (let i = 0; i < v.length; i += 3) {
      if (v[i] !== key) continue;
      v.splice(i, 3);
      return;
    }
  }

  private view<T>(key: string, make: () => T, kind = key): T {
    let v = this.views;
    if (v !== undefined) {
      for (let i = 0; i < v.length; i += 3) {
        if (v[i] !== key) continue;
        if (v[i + 1] === kind) return v[i + 2] as T;
        // another reading of the same header replaces this one, as the Map's entry was
        const value = make();
        v[i + 1] = kind;
        v[i + 2] = value;
        return value;
      }
    }
    const value = make();
    // a literal of three: an empty array's first push would make room for seventeen
    if (v === undefined) this.views = [key, kind, value];
    else v.push(key, kind, value);
    return value;
  }

  // ---- structured views (throw SipHeaderError on malformed values) -------

  vias(): Via[] {
    return (this.vVias ??= parseVias(this.getAll('via')));
  }

  topVia(): Via | undefined {
    return this.vias()[0];
  }

  /** Writes the first Via back after changing it (received/rport, signature parameters). */
  setTopVia(v: Via): this {
    return this.replaceFirst('Via', formatVia(v));
  }

  from(): NameAddr {
    return (this.vFrom ??= parseNameAddr(single(this, 'from', 'From'), 'From'));
  }

  to(): NameAddr {
    return (this.vTo ??= parseNameAddr(single(this, 'to', 'To'), 'To'));
  }

  callId(): string {
    if (this.vCallId !== undefined) return this.vCallId;
    const v = single(this, 'call-id', 'Call-ID');
    if (!CALL_ID.test(v)) throw new SipHeaderError('Call-ID', 'bad value');
    return (this.vCallId = v);
  }

  cseq(): CSeq {
    return (this.vCseq ??= parseCSeq(single(this, 'cseq', 'CSeq')));
  }

  contacts(): Array<NameAddr | ContactStar> {
    return this.view('contact', () => parseContacts(this.getAll('contact')));
  }

  routes(): NameAddr[] {
    return this.view('route', () => parseNameAddrList(this.getAll('route'), 'Route'));
  }

  recordRoutes(): NameAddr[] {
    return this.view('record-route', () => parseNameAddrList(this.getAll('record-route'), 'Record-Route'));
  }

  maxForwards(): number | undefined {
    if (this.vMaxForwards === undefined) {
      const v = optionalSingle(this, 'max-forwards', 'Max-Forwards');
      this.vMaxForwards = v === undefined ? null : parseUint(v, 'Max-Forwards', 255);
    }
    return this.vMaxForwards ?? undefined;
  }

  expires(): number | undefined {
    return this.view('expires', () => optionalParsed(this, 'expires', 'Expires', (v) => parseDeltaSeconds(v, 'Expires')) ?? null) ?? undefined;
  }

  minExpires(): number | undefined {
    return this.view('min-expires', () => optionalParsed(this, 'min-expires', 'Min-Expires', (v) => parseDeltaSeconds(v, 'Min-Expires')) ?? null) ?? undefined;
  }

  contentType(): MediaType | undefined {
    return this.view('content-type', () => optionalParsed(this, 'content-type', 'Content-Type', (v) => parseMediaType(v)) ?? null) ?? undefined;
  }

  /** One entry per header line: Authorization, Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate. */
  auth(name: 'Authorization' | 'Proxy-Authorization' | 'WWW-Authenticate' | 'Proxy-Authenticate'): AuthValue[] {
    const k = headerKey(name);
    return this.view(k, () => this.getAll(k).map((v) => parseAuth(v, name, true)), 'auth');
  }

  /** Authentication-Info: RFC 3261 has no scheme; DESIGN's KS1 puts one first. Both are read. */
  authenticationInfo(): AuthValue | undefined {
    return this.view('authentication-info', () =>
      optionalParsed(this, 'authentication-info', 'Authentication-Info', (v) => parseAuth(v, 'Authentication-Info', 'auto')) ?? null) ?? undefined;
  }

  security(name: 'Security-Client' | 'Security-Server' | 'Security-Verify'): SecurityMechanism[] {
    const k = headerKey(name);
    return this.view(k, () => parseSecurity(this.getAll(k), name), 'security');
  }

  tokens(name: 'Supported' | 'Require' | 'Proxy-Require' | 'Unsupported' | 'Allow' | string): string[] {
    const k = headerKey(name);
    return this.view(k, () => parseTokenList(this.getAll(k), canonicalName(name)), 'tokens');
  }
}

export class SipRequest extends SipMessage {
  private _method: string;
  private _uri: string;
  private parsedUri: Uri | undefined;

  constructor(method: string, uri: string, headers?: SipHeader[], body?: Buffer) {
    super(headers, body);
    this._method = method;
    this._uri = uri;
  }

  isRequest(): this is SipRequest {
    return true;
  }
  isResponse(): this is SipResponse {
    return false;
  }

  clone(): SipRequest {
    return this.copyInto(new SipRequest(this._method, this._uri));
  }

  get method(): string {
    return this._method;
  }
  set method(m: string) {
    this._method = m;
    this.startLineRange = [-1, -1];
  }
  /** The Request-URI as written. */
  get uri(): string {
    return this._uri;
  }
  set uri(u: string) {
    this._uri = u;
    this.parsedUri = undefined;
    this.startLineRange = [-1, -1];
  }
  /** Parsed Request-URI (throws SipHeaderError('Request-URI') if malformed). */
  requestUri(): Uri {
    return (this.parsedUri ??= parseUri(this._uri, 'Request-URI'));
  }
  startLine(): string {
    return this._method + ' ' + this._uri + ' SIP/2.0';
  }
}

export class SipResponse extends SipMessage {
  private _status: number;
  private _reason: string;
  /** Set on a response this stack made up for the TU: a timeout (408) or a transport failure (503). */
  localReason?: 'timeout' | 'transport';

  constructor(status: number, reason: string, headers?: SipHeader[], body?: Buffer) {
    super(headers, body);
    this._status = status;
    this._reason = reason;
  }

  isRequest(): this is SipRequest {
    return false;
  }
  isResponse(): this is SipResponse {
    return true;
  }
  clone(): SipResponse {
    return this.copyInto(new SipResponse(this._status, this._reason));
  }

  get status(): number {
    return this._status;
  }
  set status(s: number) {
    this._status = s;
    this.startLineRange = [-1, -1];
  }
  get reason(): string {
    return this._reason;
  }
  set reason(r: string) {
    this._reason = r;
    this.startLineRange = [-1, -1];
  }
  startLine(): string {
    return 'SIP/2.0 ' + this._status + ' ' + this._reason;
  }
}

export function newHeader(name: string, value: string): SipHeader {
  // Names given in lower case or compact form are written in their usual spelling.
  const written = name.length > 1 && name !== name.toLowerCase() ? name : canonicalName(name);
  return { name: written, key: headerKey(name), value, start: -1, end: -1 };
}

/** Builds a header list from `[name, value]` pairs. */
export function headerList(pairs: ReadonlyArray<readonly [string, string]>): SipHeader[] {
  return pairs.map(([n, v]) => newHeader(n, v));
}

const CALL_ID = /^[^\s]+$/;

/** The value of a header that must appear once. */
function single(m: SipMessage, key: string, name: string): string {
  const v = optionalSingle(m, key, name);
  if (v === undefined) throw new SipHeaderError(name, 'missing');
  return v;
}

/** The value of a header that may appear at most once. */
function optionalSingle(m: SipMessage, key: string, name: string): string | undefined {
  let found: string | undefined;
  for (const h of m.headers) {
    if (h.key !== key) continue;
    if (found !== undefined) throw new SipHeaderError(name, 'appears more than once');
    found = h.value;
  }
  return found;
}

function optionalParsed<T>(m: SipMessage, key: string, name: string, parse: (v: string) => T): T | undefined {
  const v = optionalSingle(m, key, name);
  return v === undefined ? undefined : parse(v);
}

export { parseVia };
