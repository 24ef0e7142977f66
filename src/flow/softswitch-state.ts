import type { RejectReason } from '../contracts/auc.js';
import { SingleUseTable } from './replay.js';
import type { Maybe } from './sbc-state.js';

/** Why the AuC refused a terminal: never told to the terminal, only logged and counted. */
export type TerminalRefusal = Exclude<RejectReason, 'unknown-proxy'>;

/**
 * A vector awaiting its s8, keyed by Rand. The softswitch keeps only a hash
 * of the expected authenticator, so that a shared store holding it (Redis)
 * holds nothing an s8 could be forged from; the wrapped keys are already
 * sealed for the terminal and the SBC. A decoy has `refused` and nothing that can open.
 */
export interface HeldVector {
  idc: string;
  idsp: string;
  /** SHA-256 of the expected authenticator. */
  authenticatorHash: Buffer;
  ekc: Buffer;
  eksp: Buffer;
  expiresAt: number;
  refused?: TerminalRefusal;
}

/**
 * Where the softswitch holds vectors between s5 and s8: in the process by
 * default (`MemoryVectorState`); in Redis when several softswitch instances
 * share registrations (src/store/redis/softswitch-vectors.ts), so that an s8
 * may reach another instance than the s2 did. A shared store may reject with
 * an error carrying `retryAfterSeconds`: the flow then answers busy (503).
 */
export interface VectorState {
  /** False when the Rand is taken or the table is full. */
  put(rand: Buffer, v: HeldVector, now: number): Maybe<boolean>;
  /** The vector of a Rand once (whichever instance asks first), never after it expired. */
  take(rand: Buffer, now: number): Maybe<HeldVector | undefined>;
  /** Vectors held here (0 for a shared store). */
  readonly size: number;
  sweep(now: number): void;
}

export class MemoryVectorState implements VectorState {
  readonly #table: SingleUseTable<HeldVector>;

  constructor(max = 200_000) {
    this.#table = new SingleUseTable(max);
  }

  get size(): number {
    return this.#table.size;
  }

  put(rand: Buffer, v: HeldVector, now: number): boolean {
    return this.#table.add(rand, v, now);
  }

  take(rand: Buffer, now: number): HeldVector | undefined {
    return this.#table.take(rand, now);
  }

  sweep(now: number): void {
    this.#table.sweep(now);
  }
}
