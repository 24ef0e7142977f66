import { createHash, randomBytes } from 'node:crypto';
import { AucUnavailableError, type AucService, type FailureOutcome, type RegistrationReport, type RejectReason } from '../contracts/auc.js';
import { equalBytes } from '../crypto/ks1.js';
import type { Clock, RandomBytes, S2, S5, S8, S9 } from './messages.js';
import { DEFAULT_CHALLENGE_TTL_SEC } from './replay.js';
import { MemoryVectorState, type HeldVector, type TerminalRefusal, type VectorState } from './softswitch-state.js';
import { isAuthenticator, isId, isRand, isWrapped } from './validate.js';

export interface SoftswitchOptions {
  auc: AucService;
  clock?: Clock;
  /** Random bytes for the Rand of a decoy challenge (default crypto.randomBytes). */
  random?: RandomBytes;
  /** A vector's Rand is refused after this long even if the AuC allowed longer. */
  vectorTtlSec?: number;
  maxVectors?: number;
  /** Where vectors wait for their s8 (default: this process's memory, bounded by `maxVectors`). */
  vectors?: VectorState;
}

export type { TerminalRefusal } from './softswitch-state.js';

/**
 * Answer with a challenge (SIP 401 via the SBC). When the AuC refused the
 * terminal (unknown, disabled, locked) this is a decoy: a random Rand no
 * authenticator can match, so the terminal fails exactly as one with a wrong
 * key does. `refused` says why, for the adapter's log and metrics only.
 */
export interface SwChallenge {
  kind: 'challenge';
  s5: S5;
  /** Set when this challenge follows a rejected s8. */
  reason?: 'wrong-authenticator' | 'stale';
  failure?: FailureOutcome;
  refused?: TerminalRefusal;
}
/** A proxy (SBC) the AuC does not know or has disabled (SIP 403): the trusted side's fault, not the terminal's. */
export interface SwForbidden {
  kind: 'forbidden';
  reason: 'unknown-proxy';
}
/** No AuC answer, an AuC that answered nonsense, or a full vector table (SIP 503). */
export interface SwUnavailable {
  kind: 'unavailable';
  cause: 'auc-unavailable' | 'auc-error' | 'busy';
}
/** s9 success; `report` is the s11 sent (or, if `reported` is false, to be sent again). */
export interface SwAccepted {
  kind: 'accepted';
  s9: S9;
  report: RegistrationReport;
  reported: boolean;
}
/** The s8 itself was malformed (a bug or tampering on the trusted link; SIP 400). */
export interface SwBadRequest {
  kind: 'bad-request';
  field: string;
}

export type SwRegisterOutcome = SwChallenge | SwForbidden | SwUnavailable | SwBadRequest;
export type SwAuthenticateOutcome = SwAccepted | SwChallenge | SwForbidden | SwUnavailable | SwBadRequest;

/** What the registrar knows of the binding, for s11. */
export interface Binding {
  protocol: string;
  contact: string;
  expiresAt: number; // Unix ms
  /** Overrides s8's ipc. */
  ipc?: string;
}

function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** A shared vector store that cannot be reached says so with `retryAfterSeconds`: busy, not a failure. */
function stateBusy(err: unknown): SwUnavailable {
  if (typeof (err as { retryAfterSeconds?: unknown })?.retryAfterSeconds === 'number') return { kind: 'unavailable', cause: 'busy' };
  throw err;
}

function unavailable(err: unknown): SwUnavailable {
  return { kind: 'unavailable', cause: err instanceof AucUnavailableError ? 'auc-unavailable' : 'auc-error' };
}

/**
 * The softswitch's side: s2 → (s3/s4) → s5, s8 → s9 (+ s11) or a new
 * challenge. It never sees a key in clear; it holds each vector until its
 * s8 arrives or its Rand expires, and uses it once.
 */
export class SoftswitchFlow {
  readonly #auc: AucService;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  readonly #ttlMs: number;
  readonly #vectors: VectorState;

  constructor(o: SoftswitchOptions) {
    this.#auc = o.auc;
    this.#clock = o.clock ?? Date.now;
    this.#random = o.random ?? randomBytes;
    this.#ttlMs = (o.vectorTtlSec ?? DEFAULT_CHALLENGE_TTL_SEC) * 1000;
    this.#vectors = o.vectors ?? new MemoryVectorState(o.maxVectors ?? 200_000);
  }

  get heldVectors(): number {
    return this.#vectors.size;
  }

  /** Drops expired vectors (optional: inserts prune as they go; call from an idle timer). */
  sweep(): void {
    this.#vectors.sweep(this.#clock());
  }

  /** s2 → s5 (a challenge), or why not. */
  async onRegister(s2: S2): Promise<SwRegisterOutcome> {
    if (!isId(s2?.idc)) return { kind: 'bad-request', field: 'idc' };
    if (!isId(s2.idsp)) return { kind: 'bad-request', field: 'idsp' };
    let r;
    try {
      r = await this.#auc.vector({ idc: s2.idc, idsp: s2.idsp });
    } catch (err) {
      return unavailable(err);
    }
    if (!r.ok) {
      if (r.reason === 'unknown-proxy') return { kind: 'forbidden', reason: 'unknown-proxy' };
      return this.#decoy(s2, r.reason);
    }
    const v = r.vector;
    if (v.idc !== s2.idc || v.idsp !== s2.idsp || !isRand(v.rand) || !isAuthenticator(v.authenticator) || !isWrapped(v.ekc) || !isWrapped(v.eksp)) {
      return { kind: 'unavailable', cause: 'auc-error' };
    }
    const now = this.#clock();
    const held: HeldVector = {
      idc: v.idc,
      idsp: v.idsp,
      authenticatorHash: sha256(v.authenticator),
      ekc: v.ekc,
      eksp: v.eksp,
      expiresAt: Math.min(v.expiresAt, now + this.#ttlMs),
    };
    try {
      if (!(await this.#vectors.put(v.rand, held, now))) return { kind: 'unavailable', cause: 'busy' };
    } catch (err) {
      return stateBusy(err);
    }
    return { kind: 'challenge', s5: { idc: v.idc, idsp: v.idsp, rand: v.rand } };
  }

  /**
   * A challenge for a terminal the AuC refused, held like a real vector (so
   * its s8 takes the same path) but with random values no s8 can match.
   */
  async #decoy(s2: S2, refused: TerminalRefusal): Promise<SwRegisterOutcome> {
    const now = this.#clock();
    const rand = this.#random(16);
    const held: HeldVector = {
      idc: s2.idc,
      idsp: s2.idsp,
      authenticatorHash: this.#random(32),
      ekc: Buffer.alloc(0),
      eksp: Buffer.alloc(0),
      expiresAt: now + this.#ttlMs,
      refused,
    };
    try {
      if (!(await this.#vectors.put(rand, held, now))) return { kind: 'unavailable', cause: 'busy' };
    } catch (err) {
      return stateBusy(err);
    }
    return { kind: 'challenge', s5: { idc: s2.idc, idsp: s2.idsp, rand }, refused };
  }

  /** s8 → s9 and s11, or a new challenge after reporting the failure. */
  async onAuthenticate(s8: S8, binding: Binding): Promise<SwAuthenticateOutcome> {
    const field = !isId(s8?.idc) ? 'idc' : !isId(s8.idsp) ? 'idsp' : !isRand(s8.rand) ? 'rand' : !isAuthenticator(s8.authenticator) ? 'authenticator' : undefined;
    if (field) return { kind: 'bad-request', field };
    const now = this.#clock();
    let v: HeldVector | undefined;
    try {
      v = await this.#vectors.take(s8.rand, now);
    } catch (err) {
      return stateBusy(err);
    }
    const s2: S2 = { idc: s8.idc, idsp: s8.idsp };
    if (!v) {
      // Expired or already used: a new challenge, not a failed guess.
      const next = await this.onRegister(s2);
      return next.kind === 'challenge' ? { ...next, reason: 'stale' } : next;
    }
    // A decoy fails like a wrong key, and is reported like one (without its Rand, which the AuC never issued:
    // the AuC's refusal granted one report for the IDc); a lockout reached now shows only in the next decoy.
    const matches = equalBytes(v.authenticatorHash, sha256(s8.authenticator));
    if (v.refused || v.idc !== s8.idc || v.idsp !== s8.idsp || !matches) {
      let failure: FailureOutcome;
      try {
        failure = await this.#auc.failed(v.refused ? { idc: s8.idc, idsp: s8.idsp } : { idc: s8.idc, idsp: s8.idsp, rand: s8.rand });
      } catch (err) {
        return unavailable(err);
      }
      const next = await this.onRegister(s2);
      if (next.kind !== 'challenge') return next;
      const out: SwChallenge = { ...next, reason: 'wrong-authenticator', failure };
      const refused = next.refused ?? v.refused;
      if (refused) out.refused = refused;
      return out;
    }
    const report: RegistrationReport = {
      idc: v.idc,
      idsp: v.idsp,
      ipc: binding.ipc ?? s8.ipc ?? '',
      protocol: binding.protocol,
      contact: binding.contact,
      mechanism: s8.mech ?? '',
      expiresAt: binding.expiresAt,
      rand: s8.rand,
    };
    let reported = true;
    try {
      await this.#auc.registered(report);
    } catch {
      // The terminal is authenticated; the adapter retries s11 rather than failing the registration.
      reported = false;
    }
    return { kind: 'accepted', s9: { idc: v.idc, idsp: v.idsp, rand: s8.rand, ekc: v.ekc, eksp: v.eksp }, report, reported };
  }
}
