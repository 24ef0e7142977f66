/**
 * Signatures over the SIP headers the SBC sends to and receives from an
 * untrusted link (docs/header-signing.md):
 *
 * - `ks-vs` in the SBC's own Via: the Vias below it, Call-ID, CSeq, From tag.
 * - `ks-rr` in the SBC's Record-Route URI: the Record-Route set.
 * - `ks-rsa` / `ks-rsb` in the SBC's Record-Route URI: the route set plus
 *   the remote target the caller (a) / the callee (b) will use, plus the
 *   party who owns that side; every in-dialog request from the untrusted side
 *   must bring one back in its Route.
 * - `ks-pa` / `ks-pb` beside them: that party, in clear (base64url of
 *   `partyText`), so that any instance can check the sender against it.
 * - `ks-kb` beside them when the SBC is in a pool: the signing key, sealed
 *   for the other instances.
 *
 * Verification never throws: a malformed header is a failed signature.
 */
import { formatNameAddr, isSipUri, isStar, parseNameAddr, type NameAddr, type Params, type SipMessage, type SipRequest, type SipResponse, type Uri } from '../../sip/index.js';
import type { SigningPool } from '../pool/pool.js';
import { parseParty, partyText, type DialogParty } from '../dialogs.js';
import { rrInput, routeSetInput, viaInput } from './canonical.js';
import { joinLines, routeItems, RouteLineCache, type RouteHeader } from './route-lines.js';
import type { KeyRing, SigningKey } from './keyring.js';
import { formatToken, macEquals, parseToken } from './mac.js';
import { MacMemo } from './mac-memo.js';

/** Parameter names on the wire. */
export const PARAM = {
  /** Via parameter: Via signature. */
  via: 'ks-vs',
  /** Record-Route URI parameter: Record-Route signature. */
  rr: 'ks-rr',
  /** Record-Route URI parameter: route-set signature the caller presents. */
  rsCaller: 'ks-rsa',
  /** Record-Route URI parameter: route-set signature the callee presents. */
  rsCallee: 'ks-rsb',
  /** Record-Route URI parameter: the party of the caller's side (signed by `ks-rsa`). */
  partyCaller: 'ks-pa',
  /** Record-Route URI parameter: the party of the callee's side (signed by `ks-rsb`). */
  partyCallee: 'ks-pb',
  /** Record-Route URI parameter: the signing key sealed for the pool. */
  keyBlob: 'ks-kb',
} as const;

/** `dialog-party`: a valid route set presented by someone other than the party it names (reported by the proxy). */
export type SignatureCheck = 'via' | 'record-route' | 'route-set' | 'dialog-party';

export type FailReason =
  | 'missing' // no signature where one is required
  | 'malformed' // garbled token, or a header that does not parse
  | 'unknown-key' // key id neither held nor delivered in a pool blob (e.g. expired and forgotten)
  | 'expired' // key past its lifetime
  | 'other-pool' // key blob sealed by another pool
  | 'forged-key' // key blob not signed by this pool
  | 'mismatch' // MAC does not match: the headers changed
  | 'not-party'; // the route set is valid but the request is not from the party it names

export type Verdict =
  | { ok: true; kid: string; side?: 'caller' | 'callee'; party?: DialogParty }
  | { ok: false; check: SignatureCheck; reason: FailReason };

/** What `verifyInDialogRequest` returns on success: which side sent, and the party who owns it. */
export type InDialogVerdict =
  | { ok: true; kid: string; side: 'caller' | 'callee'; party: DialogParty }
  | { ok: false; check: SignatureCheck; reason: FailReason };

/** Longest `ks-pa`/`ks-pb` value read (an IDc is at most 255 characters). */
const MAX_PARTY_PARAM = 1024;

function encodeParty(p: DialogParty): string {
  return Buffer.from(partyText(p), 'utf8').toString('base64url');
}

/** The party a `ks-pa`/`ks-pb` value names; undefined when it is missing or garbled. */
function decodeParty(v: string | null | undefined): { party: DialogParty; text: string } | undefined {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_PARTY_PARAM || !/^[A-Za-z0-9_-]+$/.test(v)) return undefined;
  const raw = Buffer.from(v, 'base64url');
  const text = raw.toString('utf8');
  // only the canonical encoding of valid UTF-8: one party, one way to write it
  if (Buffer.from(text, 'utf8').toString('base64url') !== v) return undefined;
  const party = parseParty(text);
  return party && partyText(party) === text ? { party, text } : undefined;
}

/** Told about every failed check (the SBC counts them per source and blocks). */
export type FailureSink = (source: string | undefined, check: SignatureCheck, reason: FailReason) => void;

export interface HeaderSignerOptions {
  via: KeyRing;
  rr: KeyRing;
  /** When set, `ks-kb` travels with each Record-Route signature. */
  pool?: SigningPool;
  onFailure?: FailureSink;
}

type Lookup = { ok: true; key: SigningKey } | { ok: false; reason: FailReason };

function tagOf(n: NameAddr): string {
  const t = n.params.tag;
  return typeof t === 'string' ? t : '';
}

/** The SBC's entry with its `ks-` parameters replaced by `add` (in that order), the others kept in theirs. */
function withSignatures(n: NameAddr, add: Record<string, string>): NameAddr {
  const u = n.uri;
  if (!isSipUri(u)) throw new Error('the SBC Record-Route must be a SIP URI');
  const params: Params = {};
  for (const k in u.params) if (!k.startsWith('ks-')) params[k] = u.params[k]!;
  for (const k in add) params[k] = add[k]!;
  return { ...n, uri: { ...u, params } };
}

/** Replaces element `index` of a list header whose elements are `items` (routeItems), keeping the others and their order. */
function replaceListElement(msg: SipMessage, name: string, items: string[], index: number, value: string): void {
  if (index === 0) {
    msg.replaceFirst(name, value);
    return;
  }
  if (index < 0 || index >= items.length) throw new RangeError(`no ${name} element ${index}`);
  items[index] = value;
  msg.set(name, items.join(', '));
}

/** The list's elements, element `index` parsed (undefined when there is none), and the canonical line of each. */
function readList(cache: RouteLineCache, msg: SipMessage, header: RouteHeader, index: number): { items: string[]; mine: NameAddr | undefined; lines: string[] } {
  const items = routeItems(msg, header);
  const item = items[index];
  const mine = item !== undefined ? parseNameAddr(item, header) : undefined;
  return { items, mine, lines: cache.lines(items, header, mine ? new Map([[index, mine]]) : undefined) };
}

function firstContactUri(msg: SipMessage): Uri | undefined {
  const c = msg.contacts()[0];
  return c && !isStar(c) ? c.uri : undefined;
}

function sipParams(u: Uri): Params | undefined {
  return isSipUri(u) ? u.params : undefined;
}

export class HeaderSigner {
  readonly #via: KeyRing;
  readonly #rr: KeyRing;
  readonly #pool: SigningPool | undefined;
  readonly #onFailure: FailureSink | undefined;
  /** The MACs signed lately: most checks are of inputs signed here (mac-memo.ts). */
  readonly #macs = new MacMemo();
  /** The canonical lines of the route-set hops seen lately (route-lines.ts). */
  readonly #lines = new RouteLineCache();

  constructor(o: HeaderSignerOptions) {
    if (o.via.purpose !== 'via' || o.rr.purpose !== 'rr') throw new Error('HeaderSigner needs a via ring and an rr ring');
    this.#via = o.via;
    this.#rr = o.rr;
    this.#pool = o.pool;
    this.#onFailure = o.onFailure;
  }

  // ---- Via ---------------------------------------------------------------

  /**
   * The `ks-vs` value for a request about to leave on an untrusted link, over
   * its Vias as they are now (before the SBC's own Via is pushed). Pass it as
   * a Via parameter: `stack.send(fwd, { viaParams: { [PARAM.via]: v } })`.
   */
  viaSignature(req: SipRequest): string {
    const k = this.#via.current();
    const cseq = req.cseq();
    const callId = req.callId();
    return formatToken(k.id, this.#macs.sign(k.key, callId, viaInput(k.id, callId, cseq.seq, cseq.method, tagOf(req.from()), req.vias())));
  }

  /** Checks a response from an untrusted link: its top Via must carry a valid `ks-vs` over the Vias below. */
  verifyVia(res: SipResponse, source?: string): Verdict {
    try {
      const vias = res.vias();
      const top = vias[0];
      if (!top || !(PARAM.via in top.params)) return this.#fail(source, 'via', 'missing');
      const t = parseToken(top.params[PARAM.via]);
      if (!t) return this.#fail(source, 'via', 'malformed');
      const k = this.#via.get(t.kid);
      if (!k) return this.#fail(source, 'via', 'unknown-key');
      const cseq = res.cseq();
      const callId = res.callId();
      const want = this.#macs.verify(k.key, callId, viaInput(t.kid, callId, cseq.seq, cseq.method, tagOf(res.from()), vias.slice(1)));
      return macEquals(want, t.mac) ? { ok: true, kid: t.kid } : this.#fail(source, 'via', 'mismatch');
    } catch {
      return this.#fail(source, 'via', 'malformed');
    }
  }

  // ---- Record-Route and route sets ---------------------------------------

  /**
   * Signs the SBC's Record-Route entry (element `index`, default the top one,
   * already pushed) of a dialog-forming request leaving on an untrusted link:
   * adds `ks-rr` (the Record-Route set), `ks-rsb` (the route set plus the
   * caller's Contact plus `callee`, the party the request goes to, which alone
   * presents it back) with `ks-pb` naming that party, and `ks-kb` in a pool.
   * Throws SipHeaderError when the request's headers do not parse.
   */
  signRecordRoute(req: SipRequest, callee: DialogParty, index = 0): void {
    const rr = readList(this.#lines, req, 'Record-Route', index);
    const mine = rr.mine;
    if (!mine) throw new RangeError('the request has no Record-Route entry of the SBC');
    const lines = joinLines(rr.lines);
    const k = this.#rr.current();
    const callId = req.callId();
    const callerTag = tagOf(req.from());
    const add: Record<string, string> = { [PARAM.rr]: formatToken(k.id, this.#macs.sign(k.key, callId, rrInput(k.id, callId, callerTag, lines))) };
    const contact = firstContactUri(req);
    if (contact) {
      add[PARAM.rsCallee] = formatToken(k.id, this.#macs.sign(k.key, callId, routeSetInput('b', k.id, callId, callerTag, lines, contact, partyText(callee))));
      add[PARAM.partyCallee] = encodeParty(callee);
    }
    if (this.#pool) add[PARAM.keyBlob] = this.#pool.seal(k);
    replaceListElement(req, 'Record-Route', rr.items, index, formatNameAddr(withSignatures(mine, add)));
  }

  /**
   * Checks the Record-Route set echoed in a response (18x/2xx) from an
   * untrusted link: the SBC's entry (element `index`, default the top one)
   * must carry a valid `ks-rr` over the whole set.
   */
  verifyRecordRoute(res: SipResponse, source?: string, index = 0): Verdict {
    try {
      const rr = readList(this.#lines, res, 'Record-Route', index);
      const mine = rr.mine;
      const p = mine && sipParams(mine.uri);
      if (!p || !(PARAM.rr in p)) return this.#fail(source, 'record-route', 'missing');
      const t = parseToken(p[PARAM.rr]);
      if (!t) return this.#fail(source, 'record-route', 'malformed');
      const k = this.#key(t.kid, p[PARAM.keyBlob]);
      if (!k.ok) return this.#fail(source, 'record-route', k.reason);
      const callId = res.callId();
      const want = this.#macs.verify(k.key.key, callId, rrInput(t.kid, callId, tagOf(res.from()), joinLines(rr.lines)));
      return macEquals(want, t.mac) ? { ok: true, kid: t.kid } : this.#fail(source, 'record-route', 'mismatch');
    } catch {
      return this.#fail(source, 'record-route', 'malformed');
    }
  }

  /**
   * Adds `ks-rsa` (route set plus the callee's Contact plus `caller`, the
   * party the response goes to, which alone presents it back) and `ks-pa`
   * naming that party to the SBC's Record-Route entry in a dialog-forming
   * response on its way to an untrusted caller. `index` defaults to the last
   * entry, the one nearest the caller. Returns false when the response has
   * no usable Contact (nothing to sign for). Throws SipHeaderError when its
   * headers do not parse.
   */
  signCallerRouteSet(res: SipResponse, caller: DialogParty, index?: number): boolean {
    const i = index ?? routeItems(res, 'Record-Route').length - 1;
    const rr = readList(this.#lines, res, 'Record-Route', i);
    const mine = rr.mine;
    if (!mine) throw new RangeError('the response has no Record-Route entry of the SBC');
    const contact = firstContactUri(res);
    if (!contact) return false;
    // Keep what the request leg put in this entry (a single SBC hop between
    // two untrusted parties) and sign with the same key, while it is held,
    // so the entry's one key blob serves both signatures.
    const had = sipParams(mine.uri) ?? {};
    const prior: Record<string, string> = {};
    for (const name of [PARAM.rr, PARAM.rsCallee, PARAM.partyCallee]) {
      const v = had[name];
      if (typeof v === 'string') prior[name] = v;
    }
    const priorKid = parseToken(prior[PARAM.rr] ?? prior[PARAM.rsCallee])?.kid;
    const k = (priorKid !== undefined ? this.#rr.get(priorKid) : undefined) ?? this.#rr.current();
    const callId = res.callId();
    const add: Record<string, string> = {
      [PARAM.rsCaller]: formatToken(k.id, this.#macs.sign(k.key, callId, routeSetInput('a', k.id, callId, tagOf(res.from()), joinLines(rr.lines), contact, partyText(caller)))),
      [PARAM.partyCaller]: encodeParty(caller),
    };
    if (this.#pool) add[PARAM.keyBlob] = this.#pool.seal(k);
    replaceListElement(res, 'Record-Route', rr.items, i, formatNameAddr(withSignatures(mine, { ...prior, ...add })));
    return true;
  }

  /**
   * Checks an in-dialog request from an untrusted link, as received (Route
   * not yet popped): its top Route must carry `ks-rsa` valid for the Route
   * set reversed plus the Request-URI plus the party in `ks-pa` (a request
   * from the caller), or `ks-rsb` valid for the Route set plus the
   * Request-URI plus the party in `ks-pb` (from the callee). The verdict
   * names that party: the caller must then check that the request comes
   * from it (its mechanism, or its flow), and `reportFailure` when not.
   */
  verifyInDialogRequest(req: SipRequest, source?: string): InDialogVerdict {
    try {
      const routes = readList(this.#lines, req, 'Route', 0);
      const top = routes.mine;
      const p = top && sipParams(top.uri);
      if (!p || (!(PARAM.rsCaller in p) && !(PARAM.rsCallee in p))) return this.#fail(source, 'route-set', 'missing');
      const target = req.requestUri();
      const callId = req.callId();
      let worst: FailReason = 'mismatch';
      for (const side of ['a', 'b'] as const) {
        const name = side === 'a' ? PARAM.rsCaller : PARAM.rsCallee;
        if (!(name in p)) continue;
        const t = parseToken(p[name]);
        const pname = side === 'a' ? PARAM.partyCaller : PARAM.partyCallee;
        const party = decodeParty(p[pname]);
        if (!t || !party) {
          worst = !t || pname in p ? 'malformed' : 'missing';
          continue;
        }
        const k = this.#key(t.kid, p[PARAM.keyBlob]);
        if (!k.ok) {
          worst = k.reason;
          continue;
        }
        const lines = joinLines(routes.lines, side === 'a');
        // The caller's tag: From in the caller's requests, To in the callee's.
        const callerTag = tagOf(side === 'a' ? req.from() : req.to());
        const want = this.#macs.verify(k.key.key, callId, routeSetInput(side, t.kid, callId, callerTag, lines, target, party.text));
        if (macEquals(want, t.mac)) return { ok: true, kid: t.kid, side: side === 'a' ? 'caller' : 'callee', party: party.party };
      }
      return this.#fail(source, 'route-set', worst);
    } catch {
      return this.#fail(source, 'route-set', 'malformed');
    }
  }

  /** Counts a failure found outside the signer (a valid route set from the wrong sender) like the signer's own. */
  reportFailure(source: string | undefined, check: SignatureCheck, reason: FailReason): void {
    this.#onFailure?.(source, check, reason);
  }

  /** A key for a Record-Route/route-set signature: held locally, else from the pool blob beside it. */
  #key(kid: string, blob: string | null | undefined): Lookup {
    const local = this.#rr.get(kid);
    if (local) return { ok: true, key: local };
    if (!this.#pool || typeof blob !== 'string') return { ok: false, reason: 'unknown-key' };
    const o = this.#pool.open(blob);
    if (!o.ok) return { ok: false, reason: o.reason === 'forged' ? 'forged-key' : o.reason === 'other-pool' ? 'other-pool' : o.reason === 'expired' ? 'expired' : 'malformed' };
    if (o.key.id !== kid || o.key.purpose !== 'rr') return { ok: false, reason: 'unknown-key' };
    return { ok: true, key: o.key };
  }

  #fail(source: string | undefined, check: SignatureCheck, reason: FailReason): { ok: false; check: SignatureCheck; reason: FailReason } {
    this.#onFailure?.(source, check, reason);
    return { ok: false, check, reason };
  }
}
