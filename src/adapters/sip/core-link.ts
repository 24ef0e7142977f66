/**
 * The core link's signature (docs/sip-core-link.md, "Link authentication"):
 * every request the SBC sends to the softswitch, and the softswitch to an
 * SBC, carries
 *
 *   P-KS-Link: ts=<ms since 1970>;mac=<b64url HMAC-SHA256, 32 bytes>
 *
 * under a key the two roles share (`coreLink.key`). The MAC covers the
 * request as sent except what changes hop by hop after signing: the start
 * line, every header line but Via, Content-Length and P-KS-Link itself (lower
 * case name, value trimmed, in wire order), the SHA-256 of the body and the
 * timestamp. So the assertions (`P-KS-*`, `P-Asserted-Identity`) are bound to
 * this one request — its Call-ID, CSeq and method, From and To with their
 * tags, Request-URI, Route, Contact and body — and cannot be carried onto
 * another. The receiver accepts a timestamp within ±WINDOW of its clock and
 * each MAC once (a captured request replayed as it was is refused too).
 *
 * A contract between the roles: it lives here, not in src/sbc or
 * src/softswitch, and knows only SIP.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../../crypto/hmac.js';
import { HMAC_BLOCK, PreparedHmac } from '../../crypto/prepared-hmac.js';
import { isSipUri, type SendOptions, type SipRequest, type SipStack } from '../../sip/index.js';
import { DEFAULT_MAX_FORWARDS } from '../../sip/proxy/hops.js';

export const P_KS_LINK = 'P-KS-Link';
const KEY = 'p-ks-link';
/** Rewritten after signing: Via (pushed by the sender's stack, stamped by the receiver's) and Content-Length (set at serialisation; the body hash stands for it). */
const UNCOVERED = new Set(['via', 'content-length', KEY]);
/**
 * How far a timestamp may be from the verifier's clock. Covers a UDP request's
 * retransmissions (64·T1 = 32 s, which reuse the first signature) plus clock
 * skew between hosts; the seen-MAC table holds this long.
 */
export const LINK_WINDOW_MS = 60_000;
const VALUE = /^\s*ts=([0-9]{1,15})\s*;\s*mac=([A-Za-z0-9_-]{43})\s*$/;
const LABEL = 'keyswitch core link v1';

export type LinkFailure = 'missing' | 'malformed' | 'stale' | 'bad-mac' | 'replayed';
export type LinkVerdict = { ok: true } | { ok: false; reason: LinkFailure };

/** Most requests on the link (REGISTER, BYE, ACK) have no body: its hash is computed once. */
const EMPTY_BODY_HASH = createHash('sha256').digest('base64url');

/** The text the MAC is computed over (exported for tests and interop). */
export function linkCanonical(req: SipRequest, ts: string): string {
  const body = req.body.length === 0 ? EMPTY_BODY_HASH : createHash('sha256').update(req.body).digest('base64url');
  let text = LABEL + '\n' + ts + '\n' + req.method + ' ' + req.uri + '\n' + body;
  for (const h of req.headers) if (!UNCOVERED.has(h.key)) text += '\n' + h.key + ':' + h.value.trim();
  return text;
}

function mac(key: Buffer, req: SipRequest, ts: string): Buffer {
  return hmacSha256(key, linkCanonical(req, ts));
}

/**
 * HMAC-SHA256 under one key, for the verifier that checks every request on
 * the link: RFC 2104 over two one-shot hashes, the key's pads made once and
 * the text written into a buffer kept for the next request, instead of an
 * Hmac object (and its key set up) per request. Same value as createHmac.
 */
export class LinkMac {
  readonly #hmac: PreparedHmac;
  #inner: Buffer;

  constructor(key: Buffer) {
    this.#hmac = new PreparedHmac('sha256', key);
    this.#inner = Buffer.alloc(HMAC_BLOCK + 2048);
    this.#hmac.ipad.copy(this.#inner, 0);
  }

  of(text: string): Buffer {
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (HMAC_BLOCK + text.length * 3 > this.#inner.length) {
      this.#inner = Buffer.alloc(HMAC_BLOCK + text.length * 3);
      this.#hmac.ipad.copy(this.#inner, 0);
    }
    const n = this.#inner.write(text, HMAC_BLOCK, 'utf8');
    return this.#hmac.finish(this.#inner.subarray(0, HMAC_BLOCK + n));
  }
}

/**
 * Signs `req` for the core link (replacing any P-KS-Link it carries). Call it
 * last, just before the stack sends: any later change but a Via breaks it.
 */
export function signCoreLink(req: SipRequest, key: Buffer, now: number = Date.now()): void {
  const ts = prepareToSign(req, now);
  req.append(P_KS_LINK, `ts=${ts};mac=${mac(key, req, ts).toString('base64url')}`);
}

/**
 * signCoreLink for a role that signs every request under one key (the SBC towards its
 * softswitches): the key's pads made once (LinkMac) instead of an Hmac object and its key
 * set up per request. The same header, byte for byte.
 */
export function coreLinkSigner(key: Buffer): (req: SipRequest, now?: number) => void {
  const m = new LinkMac(key);
  return (req, now = Date.now()) => {
    const ts = prepareToSign(req, now);
    req.append(P_KS_LINK, `ts=${ts};mac=${m.of(linkCanonical(req, ts)).toString('base64url')}`);
  };
}

/** Removes any P-KS-Link and sets what the stack would add after signing; returns the timestamp to sign. */
function prepareToSign(req: SipRequest, now: number): string {
  req.remove(P_KS_LINK);
  // The stack would add this after signing; set it first so that the MAC covers what is sent.
  if (req.maxForwards() === undefined) req.set('Max-Forwards', String(DEFAULT_MAX_FORWARDS));
  return String(Math.max(0, Math.floor(now)));
}

/**
 * `stack` with the requests it sends (in a transaction or not) signed by
 * `sign` — all of them, or those `when` picks (by where they go); responses
 * are untouched.
 */
export function signingRequests(stack: SipStack, sign: (req: SipRequest) => void, when: (req: SipRequest, o: SendOptions | undefined) => boolean = () => true): SipStack {
  return {
    ...stack,
    send(req, o) {
      if (when(req, o)) sign(req);
      return stack.send(req, o);
    },
    sendStateless(msg, o) {
      if (msg.isRequest() && when(msg, o)) sign(msg);
      return stack.sendStateless(msg, o);
    },
  };
}

/**
 * The address the stack will send `req` to (its next-hop rule, RFC 3261
 * §8.1.2 without DNS): the explicit destination, else the first Route's
 * maddr or host, else the Request-URI's. Undefined when none can be read.
 */
export function nextHopAddress(req: SipRequest, o: SendOptions | undefined): string | undefined {
  if (o?.destination) return o.destination.address;
  try {
    const u = req.routes()[0]?.uri ?? req.requestUri();
    return isSipUri(u) ? (u.params.maddr ?? u.host) : undefined;
  } catch {
    return undefined;
  }
}

export interface LinkVerifierOptions {
  now?: () => number;
  windowMs?: number;
  /** Most MACs remembered (default 200 000, about 60 s at 3 000 requests/s); past it the oldest go and nothing older is accepted. */
  maxSeen?: number;
}

/** Checks P-KS-Link on requests from the other end of the link; each valid MAC is accepted once. */
export class CoreLinkVerifier {
  readonly #mac: LinkMac;
  readonly #now: () => number;
  readonly #window: number;
  readonly #max: number;
  /** MAC (b64url) → its timestamp. */
  readonly #seen = new Map<string, number>();
  /**
   * The same entries in arrival order, read from `#head`: what goes first. Not the Map's own
   * order: a Map used as a queue keeps its deleted entries as holes until it rehashes, and
   * every iteration from its head walked them again, once per request.
   */
  #queueIds: (string | undefined)[] = [];
  #queueTs: number[] = [];
  #head = 0;
  /** Timestamps at or below this were forgotten early (table full): refused as possible replays. */
  #floor = -1;

  constructor(key: Buffer, o: LinkVerifierOptions = {}) {
    this.#mac = new LinkMac(key);
    this.#now = o.now ?? Date.now;
    this.#window = o.windowMs ?? LINK_WINDOW_MS;
    this.#max = o.maxSeen ?? 200_000;
  }

  get remembered(): number {
    return this.#seen.size;
  }

  /** Call once per request, as received and before anything changes it. */
  verify(req: SipRequest): LinkVerdict {
    const values = req.getAll(P_KS_LINK);
    if (values.length === 0) return { ok: false, reason: 'missing' };
    const m = values.length === 1 ? VALUE.exec(values[0]!) : null;
    if (!m) return { ok: false, reason: 'malformed' };
    const ts = Number(m[1]);
    const now = this.#now();
    if (Math.abs(now - ts) > this.#window) return { ok: false, reason: 'stale' };
    const got = Buffer.from(m[2]!, 'base64url');
    if (got.length !== 32 || !timingSafeEqual(got, this.#mac.of(linkCanonical(req, m[1]!)))) return { ok: false, reason: 'bad-mac' };
    this.#forget(now);
    // a copy: m[2] is a slice of the request's whole header text, which the table would keep for the window
    const id = got.toString('base64url');
    if (this.#seen.has(id) || ts <= this.#floor) return { ok: false, reason: 'replayed' };
    this.#seen.set(id, ts);
    this.#queueIds.push(id);
    this.#queueTs.push(ts);
    while (this.#seen.size > this.#max) {
      const t = this.#queueTs[this.#head]!;
      this.#drop();
      if (t > this.#floor) this.#floor = t;
    }
    this.#compact();
    return { ok: true };
  }

  /** Entries whose timestamp left the window are refused as stale anyway. */
  #forget(now: number): void {
    while (this.#head < this.#queueIds.length && now - this.#queueTs[this.#head]! > this.#window) this.#drop();
  }

  /** Forgets the oldest entry (each MAC is in the table once: the queue and the Map hold the same entries). */
  #drop(): void {
    const id = this.#queueIds[this.#head]!;
    this.#queueIds[this.#head++] = undefined;
    this.#seen.delete(id);
  }

  #compact(): void {
    const h = this.#head;
    if (h > 4096 && h * 2 > this.#queueIds.length) {
      this.#queueIds = this.#queueIds.slice(h);
      this.#queueTs = this.#queueTs.slice(h);
      this.#head = 0;
    }
  }
}
