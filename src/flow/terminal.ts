import { randomWireBytes } from '../crypto/random-pool.js';
import {
  authenticator,
  canonicalS10,
  compactMechs,
  equalBytes,
  macWith,
  NONCE_LEN,
  SessionKeys,
  TerminalKeys,
  unwrapWith,
} from '../crypto/ks1.js';
import { parseMechanisms } from './mechanisms.js';
import { unixSeconds, type Clock, type MechanismList, type RandomBytes, type S1, type S6, type S7, type S10 } from './messages.js';
import { isId, isMac, isNonce, isRand, isTs, isWrapped } from './validate.js';

export interface TerminalOptions {
  idc: string;
  kc: Buffer;
  /** The SBC's identity if configured; otherwise learnt from s6. */
  idsp?: string;
  /** What this terminal supports, with priorities (text is sent as is). */
  mechanisms: MechanismList | string;
  clock?: Clock;
  random?: RandomBytes;
}

export type TerminalError =
  | 'unexpected' // no registration in progress at this step
  | 'bad-message' // a field is missing or has the wrong shape
  | 'n1-mismatch' // the echo is not the N1 this terminal sent last
  | 'wrong-identity' // IDc or IDsp is not who this terminal talks to
  | 'downgrade' // s10 echoes a mechanism list other than the one sent
  | 'unwrap-failed' // E_Kc[Kc,sp] does not open for this IDc/IDsp/Rand
  | 'bad-mac' // the s10 MAC does not verify: not this SBC, or altered
  | 'mechanism-not-listed'; // the SBC chose something this terminal did not list

export interface TerminalSession {
  idsp: string;
  mechanism: string;
  /** Kc,sp. */
  sessionKey: Buffer;
  keys: SessionKeys;
}

export type TerminalStep<T> = { ok: true; value: T } | { ok: false; error: TerminalError };

type Stage = 'idle' | 'registering' | 'authenticating' | 'registered';

/**
 * The terminal's side of the flow: s1 → (s6) → s7 → (s10). One instance per
 * terminal identity; `start` begins a new registration. Freshness for the
 * terminal comes from its own N1 echoed back, not from the SBC's clock.
 */
export class TerminalFlow {
  readonly idc: string;
  readonly #keys: TerminalKeys;
  readonly #mechs: MechanismList;
  readonly #mechsCompact: string;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  #idsp: string | undefined;
  #stage: Stage = 'idle';
  #n1: Buffer | undefined; // the last N1 sent, which the next answer must echo
  #rand: Buffer | undefined;

  constructor(o: TerminalOptions) {
    if (!isId(o.idc)) throw new RangeError('bad IDc');
    this.idc = o.idc;
    this.#keys = new TerminalKeys(o.kc);
    this.#idsp = o.idsp;
    if (typeof o.mechanisms === 'string') {
      const p = parseMechanisms(o.mechanisms);
      if (!p.ok) throw new RangeError(`bad mechanism list: ${p.error}`);
      this.#mechs = p.list;
    } else this.#mechs = o.mechanisms;
    this.#mechsCompact = compactMechs(this.#mechs.text);
    this.#clock = o.clock ?? Date.now;
    // N1 is a public nonce: wire randomness (src/crypto/random-pool.ts), as the SBC's N2
    this.#random = o.random ?? randomWireBytes;
  }

  get stage(): Stage {
    return this.#stage;
  }
  get idsp(): string | undefined {
    return this.#idsp;
  }

  /** s1 with a fresh N1 and TS1. */
  start(): S1 {
    this.#n1 = this.#random(NONCE_LEN);
    this.#rand = undefined;
    this.#stage = 'registering';
    const s1: S1 = { idc: this.idc, n1: this.#n1, ts: unixSeconds(this.#clock()) };
    if (this.#idsp !== undefined) s1.idsp = this.#idsp;
    return s1;
  }

  /** s6 → s7. Also accepts a re-challenge answering the last s7. */
  onChallenge(s6: S6): TerminalStep<S7> {
    if (this.#stage !== 'registering' && this.#stage !== 'authenticating') return { ok: false, error: 'unexpected' };
    if (!isId(s6?.idc) || !isId(s6.idsp) || !isNonce(s6.n1) || !isNonce(s6.n2) || !isRand(s6.rand)) {
      return { ok: false, error: 'bad-message' };
    }
    if (!equalBytes(s6.n1, this.#n1!)) return { ok: false, error: 'n1-mismatch' };
    if (s6.idc !== this.idc || (this.#idsp !== undefined && s6.idsp !== this.#idsp)) return { ok: false, error: 'wrong-identity' };
    this.#idsp = s6.idsp;
    this.#rand = s6.rand;
    this.#n1 = this.#random(NONCE_LEN);
    this.#stage = 'authenticating';
    return {
      ok: true,
      value: {
        idc: this.idc,
        idsp: s6.idsp,
        n1: this.#n1,
        n2: s6.n2,
        ts: unixSeconds(this.#clock()),
        rand: s6.rand,
        authenticator: authenticator(this.#keys.kAuth, s6.rand, this.idc),
        mechs: this.#mechs,
      },
    };
  }

  /** s10: opens Kc,sp, verifies the MAC and the echoed list. */
  onSuccess(s10: S10): TerminalStep<TerminalSession> {
    if (this.#stage !== 'authenticating') return { ok: false, error: 'unexpected' };
    if (
      !isId(s10?.idc) || !isId(s10.idsp) || !isNonce(s10.n1) || !isNonce(s10.n2) || !isTs(s10.ts) ||
      !isWrapped(s10.ekc) || !isId(s10.mech) || typeof s10.mechs !== 'string' || !isMac(s10.mac)
    ) {
      return { ok: false, error: 'bad-message' };
    }
    if (!equalBytes(s10.n1, this.#n1!)) return { ok: false, error: 'n1-mismatch' };
    const idsp = this.#idsp!;
    if (s10.idc !== this.idc || s10.idsp !== idsp) return { ok: false, error: 'wrong-identity' };
    const kcsp = unwrapWith(this.#keys.kWrap, s10.ekc, { idc: this.idc, idsp, rand: this.#rand! });
    if (!kcsp) return { ok: false, error: 'unwrap-failed' };
    const keys = new SessionKeys(kcsp);
    const expected = macWith(keys.kMac, canonicalS10(s10));
    if (!equalBytes(expected, s10.mac)) return { ok: false, error: 'bad-mac' };
    // The MAC proves the SBC sent this list; it must be the list this terminal sent.
    if (compactMechs(s10.mechs) !== this.#mechsCompact) return { ok: false, error: 'downgrade' };
    const chosen = s10.mech.toLowerCase();
    if (!this.#mechs.items.some((m) => m.q > 0 && m.name.toLowerCase() === chosen)) {
      return { ok: false, error: 'mechanism-not-listed' };
    }
    this.#stage = 'registered';
    this.#n1 = undefined;
    this.#rand = undefined;
    return { ok: true, value: { idsp, mechanism: s10.mech, sessionKey: keys.sessionKey, keys } };
  }
}
