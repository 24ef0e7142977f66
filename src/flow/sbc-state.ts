import { SeenNonces, SingleUseTable, type SeenVerdict } from './replay.js';

/** Outstanding N2 → the challenge it belongs to. */
export interface OutstandingChallenge {
  idc: string;
  rand: Buffer;
  expiresAt: number; // Unix ms
}

export type Maybe<T> = T | Promise<T>;

/**
 * Where the SBC's KS1 replay state lives: the outstanding challenges (N2,
 * single use) and the seen N1s. In the process by default (`MemorySbcState`);
 * shared by the instances of a pool when they run on Redis
 * (src/store/redis/sbc-state.ts), so that an s7 may land on another instance
 * than its s1. A shared store may reject with an error carrying
 * `retryAfterSeconds` when it cannot be reached: the flow answers "busy" with
 * that delay instead of accepting what it cannot check.
 */
export interface SbcReplayState {
  /** Checks and records N1 in one atomic step, remembered until `expiresAt`. */
  recordN1(n1: Buffer, expiresAt: number, now: number): Maybe<SeenVerdict>;
  /** Stores a new challenge under N2; false when N2 is taken or the table is full. */
  putChallenge(n2: Buffer, ch: OutstandingChallenge, now: number): Maybe<boolean>;
  /** Returns the challenge of N2 once (atomically, whichever instance asks first), never after it expired. */
  takeChallenge(n2: Buffer, now: number): Maybe<OutstandingChallenge | undefined>;
  /** Entries held here (0 for a shared store: they are counted there). */
  readonly stats: { seenNonces: number; outstanding: number };
  sweep(now: number): void;
}

/** The same, answering synchronously: the flow's steps then answer synchronously too. */
export interface SyncSbcReplayState extends SbcReplayState {
  recordN1(n1: Buffer, expiresAt: number, now: number): SeenVerdict;
  putChallenge(n2: Buffer, ch: OutstandingChallenge, now: number): boolean;
  takeChallenge(n2: Buffer, now: number): OutstandingChallenge | undefined;
}

/** One instance: the replay tables in the process, bounded. */
export class MemorySbcState implements SyncSbcReplayState {
  readonly #seen: SeenNonces;
  readonly #outstanding: SingleUseTable<OutstandingChallenge>;

  constructor(o: { maxSeenNonces?: number; maxOutstanding?: number } = {}) {
    this.#seen = new SeenNonces(o.maxSeenNonces ?? 1_000_000);
    this.#outstanding = new SingleUseTable(o.maxOutstanding ?? 200_000);
  }

  get stats(): { seenNonces: number; outstanding: number } {
    return { seenNonces: this.#seen.size, outstanding: this.#outstanding.size };
  }

  recordN1(n1: Buffer, expiresAt: number, now: number): SeenVerdict {
    return this.#seen.check(n1, expiresAt, now);
  }

  putChallenge(n2: Buffer, ch: OutstandingChallenge, now: number): boolean {
    return this.#outstanding.add(n2, ch, now);
  }

  takeChallenge(n2: Buffer, now: number): OutstandingChallenge | undefined {
    return this.#outstanding.take(n2, now);
  }

  sweep(now: number): void {
    this.#seen.sweep(now);
    this.#outstanding.sweep(now);
  }
}
