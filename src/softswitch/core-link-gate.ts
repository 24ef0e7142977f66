/**
 * Which requests come from an SBC (docs/sip-core-link.md, "Link
 * authentication"): a source address in `trustedSbcs` AND a valid core-link
 * signature (P-KS-Link) on the request. An address alone proves nothing: any
 * local process sends from 127.0.0.1.
 *
 * A request from a trusted address without a valid signature is not refused:
 * its `P-KS-*` and `P-Asserted-Identity` are removed and it goes on as from
 * anyone else (the no-SBC case) — an out-of-dialog request is challenged
 * (407 Digest), a REGISTER answered 401, an in-dialog request without our
 * Route challenged, an ACK dropped. So a Digest phone on the SBC's host still
 * works, and the wire tells a forger nothing. Why is logged and counted.
 */
import type { Logger } from '../log/logger.js';
import type { MessageSource, SipRequest } from '../sip/index.js';
import { CoreLinkVerifier, type LinkFailure, type LinkVerifierOptions } from '../adapters/sip/core-link.js';

export interface CoreLinkGateOptions {
  /** Is this address one of the SBCs (`trustedSbcs`)? */
  trustedAddress: (address: string) => boolean;
  /** The shared link key; without it no request is believed to come from an SBC. */
  key?: Buffer | undefined;
  verifier?: LinkVerifierOptions;
  logger?: Logger | undefined;
  /** Metrics hook, once per refused request that carried assertions or a link signature. */
  onRefused?: (reason: LinkFailure | 'no-key') => void;
  now?: () => number;
}

export interface CoreLinkStats {
  /** Requests from an SBC with a valid signature. */
  verified: number;
  /** From a trusted address, with assertions or a signature that did not verify, by reason. */
  refused: Record<LinkFailure | 'no-key', number>;
}

const ASSERTION = (key: string): boolean => key.startsWith('p-ks-') || key === 'p-asserted-identity';

/**
 * A request the softswitch answers the same whether or not an SBC sent it: a
 * REGISTER without credentials (no Authorization, not even the SBC's KS1 s2
 * marker) and without a refresh claim (P-KS-Auth), not on a TLS connection
 * (where a TLS-PSK refresh is judged). Its answer is the Digest 401 (or a 4xx
 * for what it says), so checking its link signature would buy nothing.
 */
function answeredAlike(req: SipRequest, source: MessageSource): boolean {
  return req.method === 'REGISTER' && source.protocol !== 'tls' && !req.has('Authorization') && !req.has('P-KS-Auth');
}
/** At most one log line per reason in this long (a flood must not flood the log). */
const LOG_EVERY_MS = 10_000;

export class CoreLinkGate {
  readonly #o: CoreLinkGateOptions;
  readonly #verifier: CoreLinkVerifier | undefined;
  readonly #linked = new WeakSet<SipRequest>();
  readonly #logged = new Map<string, number>();
  readonly st: CoreLinkStats = { verified: 0, refused: { missing: 0, malformed: 0, stale: 0, 'bad-mac': 0, replayed: 0, 'no-key': 0 } };

  constructor(o: CoreLinkGateOptions) {
    this.#o = o;
    this.#verifier = o.key ? new CoreLinkVerifier(o.key, { ...(o.now ? { now: o.now } : {}), ...o.verifier }) : undefined;
  }

  /**
   * Runs first on every request, as received. Marks it as from an SBC, or
   * strips what only an SBC may say when it came from a trusted address
   * without a valid signature (anyone else's are stripped by the handlers).
   */
  admit(req: SipRequest, source: MessageSource): void {
    if (!this.#o.trustedAddress(source.address)) return;
    // Answered the same whoever sent it (`answeredAlike`): its assertions are dropped unverified, as a
    // request without a valid signature loses them; no MAC is computed or remembered and nothing is
    // counted (one HMAC fewer per registration).
    if (answeredAlike(req, source)) {
      this.#strip(req);
      return;
    }
    const v = this.#verifier ? this.#verifier.verify(req) : ({ ok: false, reason: 'no-key' } as const);
    if (v.ok) {
      this.#linked.add(req);
      this.st.verified++;
      return;
    }
    // A phone on the SBC's host that asserts nothing is no event; anything else is a forgery or a key mismatch.
    if (!this.#strip(req)) return;
    this.st.refused[v.reason]++;
    this.#o.onRefused?.(v.reason);
    this.#log(v.reason, source, req.method);
  }

  /** Removes what only an SBC may say; true when there was any. */
  #strip(req: SipRequest): boolean {
    const headers = req.headers;
    for (let i = 0; i < headers.length; i++) {
      if (ASSERTION(headers[i]!.key)) {
        req.headers = headers.filter((h) => !ASSERTION(h.key));
        return true;
      }
    }
    return false;
  }

  /**
   * The `trusted` predicate the handlers use. With the request: did it come
   * from an SBC (address and signature)? Without (a next hop): is the address
   * an SBC's?
   */
  readonly trusted = (address: string, req?: SipRequest): boolean => this.#o.trustedAddress(address) && (req === undefined || this.#linked.has(req));

  #log(reason: string, source: MessageSource, method: string): void {
    const now = (this.#o.now ?? Date.now)();
    const last = this.#logged.get(reason);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    this.#logged.set(reason, now);
    const hint = reason === 'bad-mac' || reason === 'no-key' ? ': the SBC and the softswitch must share coreLink.key' : reason === 'stale' ? ': check the clocks of the SBC and the softswitch' : '';
    this.#o.logger?.warn(
      { source: `${source.address}:${source.port}`, method, reason, refusedSoFar: this.st.refused[reason as LinkFailure] },
      `softswitch: request from a trusted address without a valid core-link signature; its P-KS-* and P-Asserted-Identity were ignored${hint}`,
    );
  }
}
