/**
 * Enforces the mechanism a terminal registered with on everything it sends
 * afterwards (docs/sip-mechanisms.md): app-hmac tags, the TLS-PSK connection
 * of that IDc, or the TLS connection its KS1 registration ran on.
 *
 * Identities are compared as SIP URIs are (src/sip/uri-compare.ts): a From of
 * `alice@LAB.EXAMPLE` is alice, and must carry alice's mechanism.
 */
import { coveredBytes } from '../adapters/sip/sbc-app-hmac.js';
import type { MessageSource, SipMessage } from '../sip/index.js';
import { canonicalIdentity, sameIdentity } from '../sip/uri-compare.js';
import type { RegisteredTerminal, SessionTable } from './sessions.js';

/** SIP-specific facts about a registration, beside the shared session record. */
export interface SipBinding {
  /** tls: the TLS connection (certificate listener) the KS1 registration ran on. */
  tlsConnectionId?: number;
}

type Maybe<T> = T | Promise<T>;

export type GuardResult =
  | { ok: true; rec?: RegisteredTerminal }
  | { ok: false; rec?: RegisteredTerminal; kind: 'app-hmac' | 'transport-binding'; warning: string };

export class SipGuard {
  readonly #bindings = new WeakMap<RegisteredTerminal, SipBinding>();

  constructor(private readonly sessions: SessionTable) {}

  bind(rec: RegisteredTerminal, b: SipBinding): void {
    this.#bindings.set(rec, b);
  }

  /** The live SIP registration of an IDc, however the host of `idc` is cased. */
  session(idc: string | undefined): RegisteredTerminal | undefined {
    if (idc === undefined) return undefined;
    let rec = this.sessions.get(idc);
    if (!rec) {
      const c = canonicalIdentity(idc);
      if (c !== idc) rec = this.sessions.get(c);
    }
    return rec && rec.protocol === 'sip' ? rec : undefined;
  }

  /**
   * The SIP registration of an IDc, looked up in the shared store when this
   * instance holds no copy (a promise then; a Redis error rejects it).
   */
  sessionOrLoad(idc: string | undefined): Maybe<RegisteredTerminal | undefined> {
    const rec = this.session(idc);
    if (rec || idc === undefined || !this.sessions.shared) return rec;
    const c = canonicalIdentity(idc);
    const p = this.sessions.load(c);
    if (!p) return this.session(idc);
    return p.then(() => this.session(idc));
  }

  /** app-hmac with a shared store: the signer moved to a fresh block if another instance signed since (sessions.ts). */
  freshDownlink(rec: RegisteredTerminal): Promise<void> | undefined {
    return this.sessions.freshDownlink(rec);
  }

  /**
   * Kc,sp for the TLS-PSK listener: only for a terminal registered with tls-psk.
   * The TLS stack asks synchronously: a terminal registered through another
   * instance is looked up now, and its handshake retried finds it (docs/scale-out.md).
   */
  pskFor(identity: string): Buffer | null {
    const rec = this.session(identity);
    if (!rec && this.sessions.shared) void this.sessions.load(canonicalIdentity(identity))?.catch(() => undefined);
    return rec && rec.session.mechanism === 'tls-psk' ? rec.session.keys.sessionKey : null;
  }

  /**
   * Checks a message claiming to come from `idc`. A TLS-PSK connection speaks
   * only for its own identity; a registered IDc must use its mechanism.
   * app-hmac verification advances the replay window, so call this once per message.
   */
  check(msg: SipMessage, src: MessageSource, idc: string | undefined): Maybe<GuardResult> {
    const r = this.sessionOrLoad(idc);
    return r instanceof Promise ? r.then((rec) => this.#check(msg, src, idc, rec)) : this.#check(msg, src, idc, r);
  }

  #check(msg: SipMessage, src: MessageSource, idc: string | undefined, rec: RegisteredTerminal | undefined): Maybe<GuardResult> {
    if (src.pskIdentity !== undefined && !sameIdentity(src.pskIdentity, idc)) {
      return fail(rec, 'transport-binding', 'TLS-PSK identity does not match the sender');
    }
    if (!rec) return { ok: true };
    return this.#mechanism(msg, src, rec);
  }

  /**
   * Checks a message that must come from `idc` (the party a dialog's route set
   * names), whatever its From: `idc` must hold a registration here and the
   * message must carry its mechanism. Advances the app-hmac window on success.
   */
  checkParty(msg: SipMessage, src: MessageSource, idc: string): Maybe<GuardResult> {
    const r = this.sessionOrLoad(idc);
    return r instanceof Promise ? r.then((rec) => this.#checkParty(msg, src, idc, rec)) : this.#checkParty(msg, src, idc, r);
  }

  #checkParty(msg: SipMessage, src: MessageSource, idc: string, rec: RegisteredTerminal | undefined): Maybe<GuardResult> {
    if (!rec) return fail(undefined, 'transport-binding', `${idc} holds no registration here`);
    if (src.pskIdentity !== undefined && !sameIdentity(src.pskIdentity, rec.idc)) return fail(rec, 'transport-binding', 'TLS-PSK identity is not the party');
    return this.#mechanism(msg, src, rec);
  }

  #mechanism(msg: SipMessage, src: MessageSource, rec: RegisteredTerminal): Maybe<GuardResult> {
    switch (rec.session.mechanism) {
      case 'app-hmac': {
        const c = coveredBytes(msg);
        const v = typeof c === 'string' ? c : rec.uplink!.verify(c.seq, c.bytes, c.tag);
        if (v !== 'ok' || typeof c === 'string') return fail(rec, 'app-hmac', `KS-HMAC ${v}`);
        // Shared (Redis): the instance that claims the sequence number first accepts it; every other refuses it.
        const claim = this.sessions.claim(rec, c.seq);
        if (!claim) return { ok: true, rec };
        return claim.then((k) => (k === 'ok' ? { ok: true, rec } : fail(rec, 'app-hmac', `KS-HMAC ${k === 'gone' ? 'stale session' : k}`)));
      }
      case 'tls-psk':
        return src.protocol === 'tls' && sameIdentity(src.pskIdentity, rec.idc) ? { ok: true, rec } : fail(rec, 'transport-binding', 'tls-psk: use the TLS-PSK connection');
      case 'tls': {
        const b = this.#bindings.get(rec);
        const ok = src.protocol === 'tls' && src.pskIdentity === undefined && b?.tlsConnectionId !== undefined && src.connection?.id === b.tlsConnectionId;
        return ok ? { ok: true, rec } : fail(rec, 'transport-binding', 'tls: use the TLS connection the registration ran on');
      }
      default:
        return fail(rec, 'transport-binding', 'unknown mechanism');
    }
  }
}

function fail(rec: RegisteredTerminal | undefined, kind: 'app-hmac' | 'transport-binding', warning: string): GuardResult {
  return rec ? { ok: false, rec, kind, warning } : { ok: false, kind, warning };
}
