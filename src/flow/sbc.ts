import type { KeyObject } from 'node:crypto';
import { randomWireBytes } from '../crypto/random-pool.js';
import { canonicalS10, compactMechs, deriveWrapKey, equalBytes, macWith, NONCE_LEN, prepareWrapKey, SessionKeys, unwrapWith } from '../crypto/ks1.js';
import { chooseMechanism, KNOWN_MECHANISMS, mechanismList } from './mechanisms.js';
import { unixSeconds, type Clock, type Mechanism, type MechanismList, type RandomBytes, type S1, type S2, type S5, type S6, type S7, type S8, type S9, type S10 } from './messages.js';
import { DEFAULT_CHALLENGE_TTL_SEC, DEFAULT_TS_WINDOW_SEC, tsWithin, type SeenVerdict } from './replay.js';
import { MemorySbcState, type Maybe, type OutstandingChallenge, type SbcReplayState, type SyncSbcReplayState } from './sbc-state.js';
import { isAuthenticator, isId, isMechanismList, isNonce, isRand, isTs, isWrapped } from './validate.js';

export interface SbcOptions<S extends SbcReplayState = MemorySbcState> {
  /** IDsp: this SBC's identity (or the softswitch's, when it plays the SBC's part). */
  idsp: string;
  /** Ksp (or Kc,s): the long-term key shared with the AuC. */
  ksp: Buffer;
  /** What this SBC offers, in its order of preference; only mechanisms its adapter implements. */
  offered: Mechanism[];
  clock?: Clock;
  random?: RandomBytes;
  tsWindowSec?: number;
  /** How long an N2 stays outstanding after s6. */
  challengeTtlSec?: number;
  maxSeenNonces?: number;
  maxOutstanding?: number;
  /** Where outstanding challenges and seen N1s live; in the process (bounded by the two above) by default. */
  state?: S;
}

/** Why an s1 or s7 was not taken further. Adapters map these to their protocol's answers. */
export type SbcReject =
  /** A KS1 field is missing or malformed (SIP 400 naming it). */
  | { kind: 'bad-request'; field: string }
  /** The message names another SBC as IDsp (SIP 403). */
  | { kind: 'wrong-proxy' }
  /** s1 refused outright: its TS is outside the window, or its N1 was seen (SIP 400 / drop); counted. */
  | { kind: 'refused'; reason: 'ts-window' | 'n1-replayed'; count: true }
  /**
   * s7 refused with a new challenge: send `s2` to the softswitch, then answer
   * its s5 with `onChallenge(s5, { n1: s7.n1 })` (SIP 401); counted.
   */
  | { kind: 'rechallenge'; reason: 'n2-unknown' | 'n2-other-terminal' | 'rand-mismatch' | 'ts-window' | 'n1-replayed'; s2: S2; count: true }
  /** Nothing in the terminal's list is allowed here (SIP 494 with Security-Server). */
  | { kind: 'no-common-mechanism'; offered: MechanismList }
  /** A replay table is full of live entries, or the shared state cannot be reached (SIP 503, Retry-After). */
  | { kind: 'busy'; retryAfterSec?: number }
  /** The core answered something inconsistent (SIP 500); not the terminal's fault. */
  | { kind: 'internal'; reason: 'core-identity-mismatch' | 'unwrap-failed' };

export type SbcStep<T> = ({ ok: true } & T) | ({ ok: false } & SbcReject);

/** A step's answer: synchronous on a synchronous state (memory), else possibly a promise. */
export type SbcOut<S extends SbcReplayState, T> = S extends SyncSbcReplayState ? SbcStep<T> : Maybe<SbcStep<T>>;

const BUSY: SbcReject = { kind: 'busy' };

/** A shared state that could not be reached becomes "busy, retry after"; any other error is a bug and propagates. */
function unavailable(e: unknown): SbcStep<never> {
  const retry = (e as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  if (typeof retry === 'number') return { ok: false, kind: 'busy', retryAfterSec: retry };
  throw e;
}

/** Continues with a value now, or after the promise (without a tick when it is not one). */
function then<A, B>(v: Maybe<A>, f: (a: A) => Maybe<SbcStep<B>>): Maybe<SbcStep<B>> {
  return v instanceof Promise ? v.then(f).catch(unavailable) : f(v);
}

/**
 * What the SBC must remember between s7/s8 and s9/s10. The adapter keeps it
 * with the forwarded transaction and hands it back with s9.
 */
export interface SbcPending {
  idc: string;
  idsp: string;
  rand: Buffer;
  n1: Buffer; // N1' from s7, echoed in s10
  mech: string;
  mechs: string; // the terminal's list as sent, white space removed
}

/** The registered terminal, for the adapter to keep (one per binding). */
export interface SbcSession {
  idc: string;
  idsp: string;
  mechanism: string;
  keys: SessionKeys;
  registeredAt: number; // Unix ms
}

/**
 * The SBC's side: s1 → s2, s5 → s6, s7 → s8, s9 → s10. Transport-free; the
 * only state is the replay tables. Also runs in the softswitch when
 * terminals register without an SBC (then `idsp`/`ksp` are the softswitch's
 * identity and Kc,s).
 */
export class SbcFlow<S extends SbcReplayState = MemorySbcState> {
  readonly idsp: string;
  readonly offered: MechanismList;
  readonly #allowed: string[];
  readonly #kWrap: KeyObject;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #windowSec: number;
  readonly #ttlMs: number;
  readonly #state: SbcReplayState;

  constructor(o: SbcOptions<S>) {
    if (!isId(o.idsp)) throw new RangeError('bad IDsp');
    for (const m of o.offered) {
      if (!(KNOWN_MECHANISMS as readonly string[]).includes(m.name.toLowerCase())) throw new RangeError(`unknown mechanism ${m.name}`);
    }
    this.idsp = o.idsp;
    this.offered = mechanismList(o.offered);
    this.#allowed = o.offered.filter((m) => m.q > 0).map((m) => m.name);
    const kWrap = deriveWrapKey(o.ksp);
    this.#kWrap = prepareWrapKey(kWrap);
    kWrap.fill(0);
    this.#clock = o.clock ?? Date.now;
    // N2 is a public challenge: wire randomness (src/crypto/random-pool.ts), as unpredictable, one OpenSSL call per 4 KiB
    this.#random = o.random ?? randomWireBytes;
    this.#windowSec = o.tsWindowSec ?? DEFAULT_TS_WINDOW_SEC;
    this.#ttlMs = (o.challengeTtlSec ?? DEFAULT_CHALLENGE_TTL_SEC) * 1000;
    this.#state = o.state ?? new MemorySbcState({
      ...(o.maxSeenNonces !== undefined ? { maxSeenNonces: o.maxSeenNonces } : {}),
      ...(o.maxOutstanding !== undefined ? { maxOutstanding: o.maxOutstanding } : {}),
    });
  }

  /** Replay-table sizes, for metrics. */
  get stats(): { seenNonces: number; outstanding: number } {
    return this.#state.stats;
  }

  /** Drops expired replay entries (optional: inserts prune as they go; call from an idle timer). */
  sweep(): void {
    this.#state.sweep(this.#clock());
  }

  /** Records N1 until a message with this TS could no longer pass the window check. */
  #checkN1(n1: Buffer, ts: number, now: number): Maybe<SeenVerdict> {
    return this.#state.recordN1(n1, (ts + this.#windowSec + 1) * 1000, now);
  }

  /** s1 → s2. */
  onRegister(s1: S1): SbcOut<S, { s2: S2 }> {
    return this.#onRegister(s1) as SbcOut<S, { s2: S2 }>;
  }

  #onRegister(s1: S1): Maybe<SbcStep<{ s2: S2 }>> {
    const field = !isId(s1?.idc) ? 'idc' : !isNonce(s1.n1) ? 'n1' : !isTs(s1.ts) ? 'ts' : s1.idsp !== undefined && !isId(s1.idsp) ? 'idsp' : undefined;
    if (field) return { ok: false, kind: 'bad-request', field };
    if (s1.idsp !== undefined && s1.idsp !== this.idsp) return { ok: false, kind: 'wrong-proxy' };
    const now = this.#clock();
    if (!tsWithin(now, s1.ts, this.#windowSec)) return { ok: false, kind: 'refused', reason: 'ts-window', count: true };
    return then(this.#checkN1(s1.n1, s1.ts, now), (seen): SbcStep<{ s2: S2 }> => {
      if (seen === 'full') return { ok: false, ...BUSY };
      if (seen === 'seen') return { ok: false, kind: 'refused', reason: 'n1-replayed', count: true };
      return { ok: true, s2: { idc: s1.idc, idsp: this.idsp } };
    });
  }

  /** s5 → s6. `askedBy` is the s1 or s7 this challenge answers (its N1 is echoed). */
  onChallenge(s5: S5, askedBy: { n1: Buffer }): SbcOut<S, { s6: S6 }> {
    return this.#onChallenge(s5, askedBy) as SbcOut<S, { s6: S6 }>;
  }

  #onChallenge(s5: S5, askedBy: { n1: Buffer }): Maybe<SbcStep<{ s6: S6 }>> {
    if (!isId(s5?.idc) || !isRand(s5.rand) || s5.idsp !== this.idsp) return { ok: false, kind: 'internal', reason: 'core-identity-mismatch' };
    if (!isNonce(askedBy?.n1)) return { ok: false, kind: 'bad-request', field: 'n1' };
    const now = this.#clock();
    const n2 = this.#random(NONCE_LEN);
    const ch: OutstandingChallenge = { idc: s5.idc, rand: s5.rand, expiresAt: now + this.#ttlMs };
    return then(this.#state.putChallenge(n2, ch, now), (added): SbcStep<{ s6: S6 }> => {
      if (!added) return { ok: false, ...BUSY };
      return {
        ok: true,
        s6: { idc: s5.idc, idsp: this.idsp, n1: askedBy.n1, n2, ts: unixSeconds(now), rand: s5.rand, offered: this.offered },
      };
    });
  }

  /** s7 → s8, or a reason to re-challenge. `ipc` is the terminal's address as this SBC sees it (for s11). */
  onAuthenticate(s7: S7, ipc?: string): SbcOut<S, { s8: S8; pending: SbcPending }> {
    return this.#onAuthenticate(s7, ipc) as SbcOut<S, { s8: S8; pending: SbcPending }>;
  }

  #onAuthenticate(s7: S7, ipc?: string): Maybe<SbcStep<{ s8: S8; pending: SbcPending }>> {
    const field =
      !isId(s7?.idc) ? 'idc'
      : !isNonce(s7.n1) ? 'n1'
      : !isNonce(s7.n2) ? 'n2'
      : !isTs(s7.ts) ? 'ts'
      : !isAuthenticator(s7.authenticator) ? 'authenticator'
      : s7.rand !== undefined && !isRand(s7.rand) ? 'rand'
      : s7.idsp !== undefined && !isId(s7.idsp) ? 'idsp'
      : !isMechanismList(s7.mechs) ? 'mechs'
      : undefined;
    if (field) return { ok: false, kind: 'bad-request', field };
    if (s7.idsp !== undefined && s7.idsp !== this.idsp) return { ok: false, kind: 'wrong-proxy' };
    const now = this.#clock();
    const s2: S2 = { idc: s7.idc, idsp: this.idsp };
    // N2 is spent by any attempt, good or bad: one guess per challenge.
    return then(this.#state.takeChallenge(s7.n2, now), (ch): Maybe<SbcStep<{ s8: S8; pending: SbcPending }>> => {
      if (!ch) return { ok: false, kind: 'rechallenge', reason: 'n2-unknown', s2, count: true };
      if (ch.idc !== s7.idc) return { ok: false, kind: 'rechallenge', reason: 'n2-other-terminal', s2, count: true };
      if (s7.rand !== undefined && !equalBytes(s7.rand, ch.rand)) return { ok: false, kind: 'rechallenge', reason: 'rand-mismatch', s2, count: true };
      if (!tsWithin(now, s7.ts, this.#windowSec)) return { ok: false, kind: 'rechallenge', reason: 'ts-window', s2, count: true };
      return then(this.#checkN1(s7.n1, s7.ts, now), (seen): SbcStep<{ s8: S8; pending: SbcPending }> => {
        if (seen === 'full') return { ok: false, ...BUSY };
        if (seen === 'seen') return { ok: false, kind: 'rechallenge', reason: 'n1-replayed', s2, count: true };
        const chosen = chooseMechanism(s7.mechs, this.#allowed);
        if (!chosen) return { ok: false, kind: 'no-common-mechanism', offered: this.offered };
        const s8: S8 = { idc: s7.idc, idsp: this.idsp, rand: ch.rand, authenticator: s7.authenticator, mech: chosen.name };
        if (ipc !== undefined) s8.ipc = ipc;
        return {
          ok: true,
          s8,
          pending: { idc: s7.idc, idsp: this.idsp, rand: ch.rand, n1: s7.n1, mech: chosen.name, mechs: compactMechs(s7.mechs.text) },
        };
      });
    });
  }

  /** s9 (success) → s10 and the session to keep. */
  onAccepted(s9: S9, pending: SbcPending): SbcStep<{ s10: S10; session: SbcSession }> {
    if (!isId(pending?.idc) || pending.idsp !== this.idsp || !isRand(pending.rand) || !isNonce(pending.n1) || !isId(pending.mech) || typeof pending.mechs !== 'string') {
      throw new TypeError('onAccepted needs the pending record onAuthenticate returned');
    }
    if (
      s9?.idc !== pending.idc || s9.idsp !== pending.idsp || !isRand(s9.rand) || !equalBytes(s9.rand, pending.rand) ||
      !isWrapped(s9.ekc) || !isWrapped(s9.eksp)
    ) {
      return { ok: false, kind: 'internal', reason: 'core-identity-mismatch' };
    }
    const kcsp = unwrapWith(this.#kWrap, s9.eksp, { idc: pending.idc, idsp: pending.idsp, rand: pending.rand });
    if (!kcsp) return { ok: false, kind: 'internal', reason: 'unwrap-failed' };
    const keys = new SessionKeys(kcsp);
    const now = this.#clock();
    const fields = {
      idc: pending.idc,
      idsp: pending.idsp,
      n1: pending.n1,
      n2: this.#random(NONCE_LEN),
      ts: unixSeconds(now),
      ekc: s9.ekc,
      mech: pending.mech,
      mechs: pending.mechs,
    };
    const mac = macWith(keys.kMac, canonicalS10(fields));
    return {
      ok: true,
      s10: { ...fields, mac },
      session: { idc: pending.idc, idsp: pending.idsp, mechanism: pending.mech, keys, registeredAt: now },
    };
  }
}
