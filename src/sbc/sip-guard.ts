/**
 * Enforces the mechanism a terminal registered with on everything it sends
 * afterwards (docs/sip-mechanisms.md): app-hmac tags, the TLS-PSK connection
 * of that IDc, or the TLS connection its KS1 registration ran on.
 */
import { verifySipMessage } from '../adapters/sip/sbc-app-hmac.js';
import type { MessageSource, SipMessage } from '../sip/index.js';
import type { RegisteredTerminal, SessionTable } from './sessions.js';

/** SIP-specific facts about a registration, beside the shared session record. */
export interface SipBinding {
  /** tls: the TLS connection (certificate listener) the KS1 registration ran on. */
  tlsConnectionId?: number;
}

export type GuardResult =
  | { ok: true; rec?: RegisteredTerminal }
  | { ok: false; rec?: RegisteredTerminal; kind: 'app-hmac' | 'transport-binding'; warning: string };

export class SipGuard {
  readonly #bindings = new WeakMap<RegisteredTerminal, SipBinding>();

  constructor(private readonly sessions: SessionTable) {}

  bind(rec: RegisteredTerminal, b: SipBinding): void {
    this.#bindings.set(rec, b);
  }

  /** The live SIP registration of an IDc. */
  session(idc: string | undefined): RegisteredTerminal | undefined {
    if (idc === undefined) return undefined;
    const rec = this.sessions.get(idc);
    return rec && rec.protocol === 'sip' ? rec : undefined;
  }

  /** Kc,sp for the TLS-PSK listener: only for a terminal registered with tls-psk. */
  pskFor(identity: string): Buffer | null {
    const rec = this.session(identity);
    return rec && rec.session.mechanism === 'tls-psk' ? rec.session.keys.sessionKey : null;
  }

  /**
   * Checks a message claiming to come from `idc`. A TLS-PSK connection speaks
   * only for its own identity; a registered IDc must use its mechanism.
   * app-hmac verification advances the replay window, so call this once per message.
   */
  check(msg: SipMessage, src: MessageSource, idc: string | undefined): GuardResult {
    const rec = this.session(idc);
    if (src.pskIdentity !== undefined && src.pskIdentity !== idc) {
      return fail(rec, 'transport-binding', 'TLS-PSK identity does not match the sender');
    }
    if (!rec) return { ok: true };
    switch (rec.session.mechanism) {
      case 'app-hmac': {
        const v = verifySipMessage(msg, rec.uplink!);
        return v === 'ok' ? { ok: true, rec } : fail(rec, 'app-hmac', `KS-HMAC ${v}`);
      }
      case 'tls-psk':
        return src.protocol === 'tls' && src.pskIdentity === idc ? { ok: true, rec } : fail(rec, 'transport-binding', 'tls-psk: use the TLS-PSK connection');
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
