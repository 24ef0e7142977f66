import { canonicalToken, isCommandName } from './tokens.js';
import type {
  Action, AuthHeader, Command, ContextId, ErrorDescriptor, Item, ParsedMessage, ParseError, ParseResult, RelOp, Transaction,
} from './types.js';
import { MAX_MESSAGE_BYTES } from './types.js';

/**
 * Parser for the H.248.1 Annex B text encoding (RFC 3525 ABNF): long and
 * compact tokens, any case, LWSP with `;` comments anywhere the ABNF allows
 * it. The input is read as latin-1 so character offsets are byte offsets
 * (the Annex B header covers bytes); values with bytes >= 0x80 are decoded
 * as UTF-8. Anything malformed or over a limit is an error result.
 */

export const LIMITS = { depth: 32, items: 4096, listValues: 256, valueChars: 4096, transactions: 64 } as const;

class Fail {
  constructor(readonly reason: string, readonly at: number) {}
}

// SafeChar (ABNF) plus %x80-FF.
const SAFE = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-&!_/\'?@^`~*$\\()%|.') SAFE[c.charCodeAt(0)] = 1;
for (let c = 0x80; c < 0x100; c++) SAFE[c] = 1;

const UINT = /^\d{1,10}$/;
const HEX8 = /^0x[0-9A-Fa-f]{8}$/;
const AUTHDATA = /^0x(?:[0-9A-Fa-f]{2}){12,32}$/;
const TIMESTAMP = /^\d{8}T\d{8}$/;
const IPCHARS = /^[0-9A-Fa-f:.]+$/;
const DOMAIN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;
const HEADER = /(MEGACO|!)\/(\d{1,2})/iy;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes >= 0x80 are UTF-8 when they decode as such; otherwise each byte stays one latin-1 character. */
function fromLatin1(v: string): string {
  for (let k = 0; k < v.length; k++) {
    if (v.charCodeAt(k) > 0x7f) {
      try {
        return UTF8.decode(Buffer.from(v, 'latin1'));
      } catch {
        return v;
      }
    }
  }
  return v;
}

export function parseUint32(v: string | undefined): number | undefined {
  if (v === undefined || !UINT.test(v)) return undefined;
  const n = Number(v);
  return n <= 0xffffffff ? n : undefined;
}

class Reader {
  i = 0;
  items = 0;
  /** Whether the last value() was a quotedString (a flag, not an object per value). */
  quotedValue = false;
  /** `bytes` is the datagram `s` was read from (latin-1: offsets are the same). */
  constructor(readonly s: string, readonly bytes: Buffer) {}

  fail(reason: string): never {
    throw new Fail(reason, this.i);
  }

  peek(): number {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1;
  }

  /** LWSP = *(WSP / COMMENT / EOL); returns whether anything was skipped (SEP needs one). */
  lwsp(): boolean {
    const start = this.i;
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) this.i++;
      else if (c === 0x3b) {
        while (this.i < s.length && s.charCodeAt(this.i) !== 0x0a && s.charCodeAt(this.i) !== 0x0d) this.i++;
      } else break;
    }
    return this.i > start;
  }

  word(): string {
    const start = this.i;
    const s = this.s;
    while (this.i < s.length && SAFE[s.charCodeAt(this.i)] === 1) this.i++;
    if (this.i - start > LIMITS.valueChars) this.fail('value too long');
    return s.slice(start, this.i);
  }

  quoted(): string {
    const end = this.s.indexOf('"', this.i + 1);
    if (end < 0) this.fail('unterminated quoted string');
    const v = this.s.slice(this.i + 1, end);
    if (v.length > LIMITS.valueChars) this.fail('quoted string too long');
    for (let k = 0; k < v.length; k++) {
      const c = v.charCodeAt(k);
      if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) this.fail('control character in quoted string');
      if (c === 0x7f) this.fail('control character in quoted string');
    }
    this.i = end + 1;
    return fromLatin1(v);
  }

  value(): string {
    this.quotedValue = this.peek() === 0x22;
    if (this.quotedValue) return this.quoted();
    const w = this.word();
    if (!w) this.fail('value expected');
    return fromLatin1(w);
  }

  /** `[a,b]`, `[a:b]` or `{a,b}`, opening bracket at i. */
  list(close: number): { kind: 'and' | 'or' | 'range'; values: string[] } {
    this.i++;
    const values: string[] = [];
    let kind: 'and' | 'or' | 'range' = close === 0x7d ? 'or' : 'and';
    for (;;) {
      this.lwsp();
      values.push(this.value());
      if (values.length > LIMITS.listValues) this.fail('too many values');
      this.lwsp();
      const c = this.peek();
      if (c === close) {
        this.i++;
        break;
      }
      if (c === 0x3a && kind === 'and' && values.length === 1) kind = 'range';
      else if (c !== 0x2c || kind === 'range') this.fail('bad value list');
      this.i++;
    }
    return { kind, values };
  }

  /** Raw body of Local/Remote/DigitMap up to the first unescaped `}`. */
  octets(): string {
    const start = ++this.i;
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x5c && s.charCodeAt(this.i + 1) === 0x7d) this.i += 2;
      else if (c === 0x7d) break;
      else if (c === 0) this.fail('NUL in octet string');
      else this.i++;
    }
    if (this.i >= s.length) this.fail('unterminated descriptor');
    const v = s.slice(start, this.i++);
    if (v.length > LIMITS.valueChars * 4) this.fail('octet string too long');
    return fromLatin1(v);
  }

  mid(): string {
    const s = this.s;
    const start = this.i;
    const c = this.peek();
    if (c === 0x5b || c === 0x3c) {
      const end = s.indexOf(c === 0x5b ? ']' : '>', this.i + 1);
      if (end < 0 || end - start > 64) this.fail('bad mId');
      const inner = s.slice(start + 1, end);
      if (!(c === 0x5b ? IPCHARS : DOMAIN).test(inner)) this.fail('bad mId');
      this.i = end + 1;
      if (this.peek() === 0x3a) {
        this.i++;
        const p = this.word();
        const port = parseUint32(p);
        if (port === undefined || port > 65535) this.fail('bad mId port');
      }
      // A copy from the bytes, not a slice of the datagram's string: a slice of 13 characters or more keeps the
      // whole string alive, and an mId is kept (a named peer, its reply-cache keys) up to 30 s after its datagram.
      return this.bytes.toString('latin1', start, this.i);
    }
    if (/^MTP\s*\{/iy.test(s.slice(this.i, this.i + 8))) {
      const end = s.indexOf('}', this.i);
      if (end < 0 || end - start > 32) this.fail('bad mId');
      this.i = end + 1;
      return this.bytes.toString('latin1', start, this.i);
    }
    const w = this.word();
    if (!w || w.length > 64 || !/^[A-Za-z][A-Za-z0-9_/*$@.-]*$/.test(w)) this.fail('bad mId');
    return w.length < 13 ? w : this.bytes.toString('latin1', start, this.i);
  }

  item(depth: number): Item {
    if (depth > LIMITS.depth) this.fail('nesting too deep');
    if (++this.items > LIMITS.items) this.fail('too many elements');
    this.lwsp();
    if (this.peek() === 0x22) return { name: '', text: this.quoted() };
    let name = fromLatin1(this.word());
    if (!name) this.fail('token expected');
    const it: Item = { name };
    if (this.peek() === 0x3a && TIMESTAMP.test(name)) {
      this.i++;
      this.lwsp();
      it.timestamp = name;
      name = fromLatin1(this.word());
      if (!name) this.fail('event name expected');
      it.name = name;
    }
    const token = canonicalToken(name);
    if (token) it.token = token;
    this.lwsp();
    let c = this.peek();
    if (c === 0x3d || c === 0x3c || c === 0x3e || c === 0x23) {
      it.op = String.fromCharCode(c) as RelOp;
      this.i++;
      this.lwsp();
      c = this.peek();
      if (token === 'ServiceChangeAddress' || token === 'MgcIdToTry') it.value = this.mid();
      else if (c === 0x5b) it.list = this.list(0x5d);
      else if (c === 0x7b && token !== 'DigitMap') it.list = this.list(0x7d);
      else if (!(c === 0x7b && token === 'DigitMap')) {
        it.value = this.value();
        if (this.quotedValue) it.quoted = true;
      }
      this.lwsp();
    }
    if (this.peek() === 0x7b) {
      if (token === 'DigitMap' || ((token === 'Local' || token === 'Remote') && !it.op)) it.text = this.octets();
      else {
        this.i++;
        it.children = this.list_(depth + 1);
      }
    }
    return it;
  }

  /** Items up to and including the closing brace. */
  list_(depth: number): Item[] {
    const out: Item[] = [];
    this.lwsp();
    if (this.peek() === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.item(depth));
      this.lwsp();
      const c = this.peek();
      this.i++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return out;
      this.i--;
      this.fail(c < 0 ? 'unexpected end of message' : 'expected , or }');
    }
  }
}

function errorOf(it: Item): ErrorDescriptor {
  const code = it.value !== undefined && /^\d{1,4}$/.test(it.value) ? Number(it.value) : undefined;
  if (code === undefined) throw new Fail('bad error code', 0);
  const e: ErrorDescriptor = { code };
  const kids = it.children ?? [];
  if (kids.length > 1 || (kids[0] && kids[0].text === undefined)) throw new Fail('bad error descriptor', 0);
  if (kids[0]?.text !== undefined) e.text = kids[0].text;
  return e;
}

function contextOf(v: string | undefined): ContextId {
  if (v === '-' || v === '$' || v === '*') return v;
  const n = parseUint32(v);
  if (n === undefined) throw new Fail('bad context id', 0);
  return n;
}

function commandOf(it: Item): Command | undefined {
  let name = it.name;
  let optional = false;
  let wildcard = false;
  // `O-` and `W-` prefixes, each at most once, any case; a name without one is looked at as it is.
  for (let k = 0; k < 2 && name.charCodeAt(1) === 0x2d; k++) {
    const c = name.charCodeAt(0) | 0x20;
    if (c === 0x6f && !optional) optional = true;
    else if (c === 0x77 && !wildcard) wildcard = true;
    else break;
    name = name.slice(2);
  }
  const token = it.token !== undefined && name === it.name ? it.token : canonicalToken(name);
  if (!isCommandName(token)) return undefined;
  if (it.op !== '=') throw new Fail(`${token} needs a termination id`, 0);
  const terminations = it.list ? it.list.values : it.value !== undefined ? [it.value] : [];
  if (terminations.length === 0) throw new Fail('termination id expected', 0);
  const cmd: Command = { name: token, terminations, descriptors: it.children ?? [] };
  if (optional) cmd.optional = true;
  if (wildcard) cmd.wildcard = true;
  return cmd;
}

function actionOf(it: Item, reply: boolean): Action {
  if (it.token !== 'Context' || it.op !== '=') throw new Fail('context expected', 0);
  const action: Action = { context: contextOf(it.value), commands: [] };
  for (const child of it.children ?? []) {
    if (child.token === 'Error' && reply) {
      action.error = errorOf(child);
      continue;
    }
    const cmd = commandOf(child);
    if (cmd) action.commands.push(cmd);
    else (action.properties ??= []).push(child);
  }
  if (!reply && action.commands.length === 0) throw new Fail('action without command', 0);
  return action;
}

function idOf(it: Item): number {
  // A reply may carry segment numbers: id/segment[/END].
  const slash = it.token === 'Reply' && it.value ? it.value.indexOf('/') : -1;
  const v = slash < 0 ? it.value : it.value!.slice(0, slash);
  const id = parseUint32(v);
  if (id === undefined || it.op !== '=') throw new Fail('bad transaction id', 0);
  return id;
}

function transactionOf(it: Item): Transaction {
  switch (it.token) {
    case 'Transaction':
      if (!it.children?.length) throw new Fail('empty transaction', 0);
      return { type: 'request', id: idOf(it), actions: it.children.map((c) => actionOf(c, false)) };
    case 'Reply': {
      const r: Transaction = { type: 'reply', id: idOf(it), actions: [] };
      for (const c of it.children ?? []) {
        if (c.token === 'ImmAckRequired' && !c.op && !c.children) r.immAck = true;
        else if (c.token === 'Error') r.error = errorOf(c);
        else r.actions.push(actionOf(c, true));
      }
      return r;
    }
    case 'Pending':
      if (it.children?.length) throw new Fail('pending takes no body', 0);
      return { type: 'pending', id: idOf(it) };
    case 'TransactionResponseAck': {
      const ranges: [number, number][] = [];
      for (const c of it.children ?? []) {
        const [a, b, extra] = c.name.split('-');
        const lo = parseUint32(a);
        const hi = b === undefined ? lo : parseUint32(b);
        if (lo === undefined || hi === undefined || extra !== undefined || hi < lo || c.op || c.children) throw new Fail('bad transaction ack', 0);
        ranges.push([lo, hi]);
      }
      if (!ranges.length || it.op) throw new Fail('bad transaction ack', 0);
      return { type: 'ack', ranges };
    }
    default:
      throw new Fail(`unexpected ${it.name || 'text'} in message body`, 0);
  }
}

function parseAuth(r: Reader): AuthHeader | undefined {
  const start = r.i;
  const w = r.word();
  if (canonicalToken(w) !== 'Authentication') {
    r.i = start;
    return undefined;
  }
  r.lwsp();
  if (r.peek() !== 0x3d) r.fail('= expected after Authentication');
  r.i++;
  r.lwsp();
  const end = r.s.slice(r.i, r.i + 100).search(/[\s;]/);
  const text = end < 0 ? r.s.slice(r.i, r.i + 100) : r.s.slice(r.i, r.i + end);
  const parts = text.split(':');
  if (parts.length !== 3 || !HEX8.test(parts[0]!) || !HEX8.test(parts[1]!) || !AUTHDATA.test(parts[2]!)) r.fail('bad authentication header');
  r.i += text.length;
  if (!r.lwsp()) r.fail('separator expected after authentication header');
  return { spi: parseInt(parts[0]!.slice(2), 16), seq: parseInt(parts[1]!.slice(2), 16), data: Buffer.from(parts[2]!.slice(2), 'hex') };
}

/** Parses one datagram. Never throws on bad input. */
export function parseMessage(bytes: Uint8Array): ParseResult {
  const r = parseDatagram(bytes, 1);
  return r.ok ? { ok: true, message: r.messages[0]! } : r;
}

export type MessagesResult = { ok: true; messages: ParsedMessage[] } | { ok: false; error: ParseError };

/**
 * Parses a datagram that holds up to `max` messages one after the other, each
 * from its own `!/` or `MEGACO/` header (keyswitch's core leg between SBC and
 * softswitch, where each message names one gateway: docs/h248.md, "One core
 * socket"). Only the first may carry an authentication header. The element
 * limits hold for the datagram as a whole. Never throws on bad input.
 */
export function parseMessages(bytes: Uint8Array, max: number): MessagesResult {
  return parseDatagram(bytes, max);
}

const atHeader = (s: string, i: number): boolean => {
  HEADER.lastIndex = i;
  return HEADER.test(s);
};

function parseDatagram(bytes: Uint8Array, max: number): MessagesResult {
  if (bytes.length > MAX_MESSAGE_BYTES) return { ok: false, error: { code: 400, reason: 'message too long', at: 0, looksLikeH248: false } };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const s = buf.toString('latin1');
  const r = new Reader(s, buf);
  let looksLikeH248 = false;
  const messages: ParsedMessage[] = [];
  try {
    r.lwsp();
    do {
      const auth = messages.length === 0 ? parseAuth(r) : undefined;
      const bodyOffset = r.i;
      HEADER.lastIndex = r.i;
      const h = HEADER.exec(s);
      if (!h) throw new Fail('MEGACO/ or !/ expected', r.i);
      looksLikeH248 = true;
      r.i = HEADER.lastIndex;
      const version = Number(h[2]);
      if (!r.lwsp()) r.fail('separator expected after version');
      const mid = r.mid();
      if (!r.lwsp()) r.fail('separator expected after mId');
      const msg: ParsedMessage = { version, mid, transactions: [], bodyOffset };
      if (auth) msg.auth = auth;
      while (r.i < s.length) {
        if (max > 1 && atHeader(s, r.i)) break;
        const it = r.item(1);
        if (it.token === 'Error' && msg.transactions.length === 0 && !msg.error) msg.error = errorOf(it);
        else if (msg.error) r.fail('message error descriptor must stand alone');
        else {
          msg.transactions.push(transactionOf(it));
          if (msg.transactions.length > LIMITS.transactions) r.fail('too many transactions');
        }
        r.lwsp();
      }
      if (!msg.error && msg.transactions.length === 0) r.fail('empty message body');
      if (version < 1 || version > 3) return { ok: false, error: { code: 406, reason: 'version not supported', at: 0, looksLikeH248 } };
      messages.push(msg);
      if (messages.length > max) r.fail('too many messages');
    } while (r.i < s.length);
    return { ok: true, messages };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: { code: 400, reason: e.reason, at: e.at || r.i, looksLikeH248 } };
    if (e instanceof RangeError) return { ok: false, error: { code: 400, reason: 'message too complex', at: r.i, looksLikeH248 } };
    throw e;
  }
}
