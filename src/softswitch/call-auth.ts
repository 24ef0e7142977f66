/**
 * Who is calling: every out-of-dialog request the softswitch routes (INVITE,
 * MESSAGE, SUBSCRIBE, REFER, OPTIONS to a user, …) must come from an
 * authenticated caller whose identity is the From address-of-record
 * (docs/softswitch-calls.md, "Call authentication").
 *
 * - A trusted SBC vouches for KS1 terminals it authenticated by their
 *   mechanism with `P-KS-Auth: mechanism=<m>` and `P-Asserted-Identity:
 *   <sip:IDc>` (RFC 3325; docs/sip-core-link.md). Believed only on a request
 *   from an SBC: a trusted address and a valid core-link signature
 *   (P-KS-Link, which binds them to this request). From anyone else both
 *   are stripped before this runs.
 * - Everyone else (Digest phones, through an SBC or straight here) answers a
 *   `407` Digest challenge (RFC 3261 §22.3, RFC 8760), on the registrar's
 *   nonce machinery (`DigestAuth`) with HA1 from the AuC. Wrong answers count
 *   toward the AuC lockout like a REGISTER's.
 */
import { warningValue } from '../sip/proxy/warning.js';
import type { AucService } from '../contracts/auc.js';
import { isSipUri, parseNameAddr, unescapeUri, type AuthValue, type MessageSource, type SipRequest, type Uri } from '../sip/index.js';
import type { DigestAuth, DigestParams } from './digest.js';
import { isRedisUnavailable } from '../store/redis/client.js';

export const P_KS_AUTH = 'P-KS-Auth';
export const P_ASSERTED_IDENTITY = 'P-Asserted-Identity';
/** Mechanisms a trusted SBC enforces on every message of a KS1 terminal (docs/sip-mechanisms.md). */
const SBC_MECHANISMS = new Set(['app-hmac', 'tls-psk', 'tls']);
const MECHANISM = /^\s*mechanism\s*=\s*"?([A-Za-z0-9.-]+)"?\s*$/i;

type Headers = Array<[string, string]>;

export interface CallAuthOptions {
  /** Did this request come from an SBC (its address trusted and its core-link signature valid; CoreLinkGate.trusted)? */
  trusted: (address: string, req: SipRequest) => boolean;
  /** The registrar's Digest state (one nonce space for REGISTER and calls). */
  digest: DigestAuth;
  /** Already bounded in time (boundedAuc). */
  auc: AucService;
  /** IDsp reported with a failed Digest answer when no SBC names itself (the softswitch's identity). */
  selfId: string;
  /** Retry-After on 503. */
  retryAfterSec: number;
  /** `Warning` agent. */
  agent: string;
}

export type CallAuthOutcome =
  | { ok: true; identity: string; by: 'sbc' | 'digest' }
  | { ok: false; status: 400 | 403 | 407 | 503; reason?: string; headers: Headers };

export interface CallAuthStats {
  /** Requests let through on a trusted SBC's word (KS1 mechanism). */
  asserted: number;
  /** Requests let through on a verified Digest answer. */
  digestOk: number;
  /** 407 sent (first challenge, stale or unknown nonce, wrong answer). */
  challenged: number;
  /** Wrong Digest responses (reported to the AuC). */
  digestFailures: number;
  /** 403: identity not the From, AuC refusal, lockout. */
  forbidden: number;
}

/** `user@host` of a SIP URI as the registrar keys AoRs (user unescaped, host lower case); undefined without a user part. */
export function aorOfUri(u: Uri): string | undefined {
  if (!isSipUri(u) || u.user === undefined || u.user === '') return undefined;
  return `${unescapeUri(u.user)}@${u.host.toLowerCase()}`;
}

export class CallAuthenticator {
  readonly #o: CallAuthOptions;
  readonly st: CallAuthStats = { asserted: 0, digestOk: 0, challenged: 0, digestFailures: 0, forbidden: 0 };

  constructor(o: CallAuthOptions) {
    this.#o = o;
  }

  /**
   * Decides whether an out-of-dialog request may be routed. P-KS-* and
   * P-Asserted-Identity from untrusted sources must already be gone.
   */
  async check(req: SipRequest, source: MessageSource): Promise<CallAuthOutcome> {
    const from = aorOfUri(req.from().uri);
    if (from === undefined) return this.#forbidden('From names no user');
    const trusted = this.#o.trusted(source.address, req);
    if (trusted) {
      const asserted = this.#asserted(req);
      if (asserted === 'bad') return this.#forbidden('P-Asserted-Identity unusable');
      if (asserted !== undefined) {
        if (asserted !== from) return this.#forbidden('asserted identity is not the From');
        this.st.asserted++;
        return { ok: true, identity: from, by: 'sbc' };
      }
    }
    let creds: AuthValue[];
    try {
      creds = req.auth('Proxy-Authorization');
    } catch {
      return this.#bad('Proxy-Authorization');
    }
    const mine = creds.find((a) => a.scheme.toLowerCase() === 'digest' && a.params.realm === this.#o.digest.realm);
    if (!mine) return this.#challenge(false);
    return this.#digest(req, from, mine.params, trusted);
  }

  /** Our own realm's credentials are spent here (RFC 3261 §22.3): the next hops never see them. */
  consume(fwd: SipRequest): void {
    const vals = fwd.getAll('Proxy-Authorization');
    if (vals.length === 0) return;
    let creds: AuthValue[];
    try {
      creds = fwd.auth('Proxy-Authorization');
    } catch {
      return;
    }
    fwd.remove('Proxy-Authorization');
    creds.forEach((c, i) => {
      if (c.scheme.toLowerCase() !== 'digest' || c.params.realm !== this.#o.digest.realm) fwd.append('Proxy-Authorization', vals[i]!);
    });
  }

  /** The identity a trusted SBC asserts for a KS1 terminal; undefined when it asserts none. */
  #asserted(req: SipRequest): string | undefined | 'bad' {
    const m = MECHANISM.exec(req.get(P_KS_AUTH) ?? '');
    if (!m || !SBC_MECHANISMS.has(m[1]!.toLowerCase())) return undefined;
    const pai = req.getAll(P_ASSERTED_IDENTITY);
    // RFC 3325 §9.1: one or two values (a sip/sips URI and a tel URI); we assert exactly one SIP identity.
    for (const v of pai) {
      try {
        const aor = aorOfUri(parseNameAddr(v.trim(), P_ASSERTED_IDENTITY).uri);
        if (aor !== undefined) return aor;
      } catch {
        return 'bad';
      }
    }
    return 'bad';
  }

  async #digest(req: SipRequest, from: string, p: DigestParams, trusted: boolean): Promise<CallAuthOutcome> {
    const dg = this.#o.digest;
    if (!p.username) return this.#bad('username');
    const user = from.slice(0, from.lastIndexOf('@'));
    // Anyone may hold an account; what matters is that it is the caller's own.
    if (p.username !== from && p.username !== user) return this.#forbidden('authenticated user is not the From');
    // Through a trusted SBC the Request-URI may have been rewritten; the response still covers the uri the phone signed.
    const c = dg.check(p, from, trusted ? undefined : req.uri);
    if (!c.ok) {
      switch (c.kind) {
        case 'bad-request':
          return this.#bad(c.field);
        case 'stale':
          return this.#challenge(true);
        default:
          return this.#challenge(false);
      }
    }
    let h;
    try {
      h = await this.#o.auc.digest({ idc: from, username: c.username, realm: dg.realm, algorithm: c.algorithm });
    } catch {
      return this.#unavailable();
    }
    // An identity the AuC refuses (unknown, disabled, locked: counted by reason in the softswitch metrics) is compared
    // with a decoy HA1 and fails, reported and answered, as a wrong password does (docs/softswitch.md, "Unknown, disabled, locked").
    const ha1 = h.ok ? h.ha1 : dg.decoyHa1(c.algorithm, from);
    let settled;
    try {
      settled = await dg.settle(c, p, req.method, c.algorithm, ha1);
    } catch (err) {
      if (isRedisUnavailable(err)) return this.#unavailable();
      throw err;
    }
    // the right response on a nonce-count used already (here or at another softswitch instance): a new challenge, no failure counted
    if (settled === 'replayed' || settled === 'stale') return this.#challenge(settled === 'stale');
    if (settled !== 'ok' || !h.ok) {
      this.st.digestFailures++;
      const idsp = (trusted ? req.get('P-KS-IDSP')?.trim() : undefined) || this.#o.selfId;
      try {
        await this.#o.auc.failed({ idc: from, idsp });
      } catch {
        return this.#unavailable();
      }
      return this.#challenge(false);
    }
    this.st.digestOk++;
    return { ok: true, identity: from, by: 'digest' };
  }

  #warning(text: string): [string, string] {
    return ['Warning', warningValue(this.#o.agent, text)];
  }

  #challenge(stale: boolean): CallAuthOutcome {
    this.st.challenged++;
    const headers = this.#o.digest.challengeValues(stale).map((v): [string, string] => ['Proxy-Authenticate', v]);
    return { ok: false, status: 407, headers };
  }

  #forbidden(why: string, retryAfterSeconds?: number): CallAuthOutcome {
    this.st.forbidden++;
    const headers: Headers = [this.#warning(why)];
    if (retryAfterSeconds !== undefined) headers.push(['Retry-After', String(retryAfterSeconds)]);
    return { ok: false, status: 403, headers };
  }

  #bad(field: string): CallAuthOutcome {
    return { ok: false, status: 400, reason: `Bad Digest ${field}`, headers: [this.#warning(`Digest parameter ${field} missing or malformed`)] };
  }

  #unavailable(): CallAuthOutcome {
    return { ok: false, status: 503, headers: [['Retry-After', String(this.#o.retryAfterSec)]] };
  }
}
