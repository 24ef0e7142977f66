import { AppHmacSigner, AppHmacVerifier } from '../crypto/app-hmac.js';
import type { SbcSession } from '../flow/sbc.js';
import { ownString } from './own-string.js';

/**
 * A terminal registered through this SBC, whatever protocol it used: the
 * session key (derived once), the chosen mechanism and, for app-hmac, the
 * per-direction sequence state. One record per IDc.
 */
export interface RegisteredTerminal {
  idc: string;
  protocol: 'sip' | 'mgcp' | 'h248' | 'h323';
  /** Where the terminal was seen (transport address), as the protocol adapter writes it. */
  address: string;
  session: SbcSession;
  /** app-hmac: verifies terminal → SBC; signs SBC → terminal. */
  uplink?: AppHmacVerifier;
  downlink?: AppHmacSigner;
  expiresAt: number; // Unix ms
}

export class SessionTable {
  readonly #byIdc = new Map<string, RegisteredTerminal>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Stores a new registration; the app-hmac state starts fresh with each new session key. */
  accept(session: SbcSession, protocol: RegisteredTerminal['protocol'], address: string, expiresAt: number): RegisteredTerminal {
    const idc = ownString(session.idc);
    session.idc = idc;
    session.idsp = ownString(session.idsp);
    const rec: RegisteredTerminal = { idc, protocol, address: ownString(address), session, expiresAt };
    if (session.mechanism === 'app-hmac') {
      rec.uplink = new AppHmacVerifier(session.keys.kAppHmac, 'uplink');
      rec.downlink = new AppHmacSigner(session.keys.kAppHmac, 'downlink');
    }
    this.#byIdc.set(idc, rec);
    return rec;
  }

  /** The live registration of an IDc, if any. */
  get(idc: string): RegisteredTerminal | undefined {
    const rec = this.#byIdc.get(idc);
    if (rec && rec.expiresAt <= this.now()) {
      this.#byIdc.delete(idc);
      return undefined;
    }
    return rec;
  }

  remove(idc: string): boolean {
    return this.#byIdc.delete(idc);
  }

  get size(): number {
    return this.#byIdc.size;
  }

  /** Drops expired registrations; returns them so adapters can report de-registration. */
  sweep(): RegisteredTerminal[] {
    const t = this.now();
    const gone: RegisteredTerminal[] = [];
    for (const [idc, rec] of this.#byIdc) {
      if (rec.expiresAt <= t) {
        this.#byIdc.delete(idc);
        gone.push(rec);
      }
    }
    return gone;
  }
}
