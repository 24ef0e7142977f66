import { dropOldest } from '../lib/map-eviction.js';
import type { FailureRepo, FailureState } from '../store/failures.js';

export interface LockoutPolicy {
  threshold: number;
  windowSeconds: number;
  baseSeconds: number;
  maxSeconds: number;
}

export interface LockStatus {
  locked: boolean;
  retryAfterSeconds?: number;
}

/** How long "no failure row" read by status() spares the clearing DELETE: a challenge's life, with margin. */
const CLEAN_MS = 60_000;
const MAX_CLEAN = 100_000;

/**
 * Failures of one IDc within a window lock it; each further lockout doubles
 * the time (back-off) up to a ceiling. A success clears the record.
 *
 * Nearly every registration succeeds without a failure on record, so the
 * clearing DELETE (a write transaction on the store every other role shares)
 * is skipped when this AuC itself read no record for the IDc shortly before
 * (status() at the challenge) and counted no failure since. A failure
 * recorded meanwhile by another AuC instance on the same database would then
 * stay until its window ends: it errs towards counting, never towards
 * forgetting.
 */
export class Lockout {
  /** IDc → until when it is known to have no failure record. */
  readonly #clean = new Map<string, number>();

  constructor(
    private readonly repo: FailureRepo,
    private readonly policy: LockoutPolicy,
    private readonly now: () => number,
    /** Told of each failure counted, and whether it locked the IDc (the AuC logs them). */
    private readonly observe?: (s: Readonly<FailureState>, lockedNow: boolean) => void,
  ) {}

  async status(idc: string): Promise<LockStatus> {
    return this.statusFrom(idc, await this.repo.get(idc), true);
  }

  /**
   * status() (`known`: a provisioned IDc) or peek() from a failure record
   * read by the caller (the Digest answer reads it with the terminal's row).
   */
  statusFrom(idc: string, s: FailureState | undefined, known: boolean): LockStatus {
    if (known) {
      if (s) this.#clean.delete(idc);
      else this.#markClean(idc);
    }
    return this.#statusOf(s);
  }

  /**
   * The same read as status() without remembering anything: for an IDc that
   * is not provisioned, so that asking about one costs what asking about a
   * real one does, and a stream of made-up IDcs cannot churn the clean marks.
   */
  async peek(idc: string): Promise<LockStatus> {
    return this.#statusOf(await this.repo.get(idc));
  }

  #markClean(idc: string): void {
    const until = this.now() + CLEAN_MS;
    // A mark held already is moved forward in place (a delete and a set per request left a hole in the Map each
    // time). It keeps its place in the order, so the cut below may take it before younger marks: the cost of that
    // is one needless delete of a failure record, never one kept.
    if (this.#clean.has(idc)) {
      this.#clean.set(idc, until);
      return;
    }
    // The oldest sixteenth at once: dropping one per insert made each `keys()` walk from the Map's start
    // cross the holes of every mark dropped before (37 µs per vector with 1,000,000 terminals, in process).
    if (this.#clean.size >= MAX_CLEAN) dropOldest(this.#clean, MAX_CLEAN >> 4);
    this.#clean.set(idc, until);
  }

  #statusOf(s: FailureState | undefined): LockStatus {
    const t = this.now();
    if (!s || s.lockedUntil <= t) return { locked: false };
    return { locked: true, retryAfterSeconds: Math.ceil((s.lockedUntil - t) / 1000) };
  }

  async fail(idc: string): Promise<LockStatus> {
    this.#clean.delete(idc);
    const t = this.now();
    const p = this.policy;
    const s: FailureState = (await this.repo.get(idc)) ?? { idc, count: 0, windowStart: t, lockouts: 0, lockedUntil: 0 };
    if (s.lockedUntil > t) return this.#statusOf(s);
    if (t - s.windowStart > p.windowSeconds * 1000 || (s.lockedUntil > 0 && s.lockedUntil <= t && s.count >= p.threshold)) {
      s.count = 0;
      s.windowStart = t;
    }
    s.count += 1;
    let lockedNow = false;
    if (s.count >= p.threshold) {
      const seconds = Math.min(p.maxSeconds, p.baseSeconds * 2 ** s.lockouts);
      s.lockouts += 1;
      s.lockedUntil = t + seconds * 1000;
      lockedNow = true;
    }
    await this.repo.put(s);
    this.observe?.(s, lockedNow);
    return this.#statusOf(s);
  }

  /** Whether a success must delete the IDc's failure record (false: this AuC knows it has none). */
  clearNeeded(idc: string): boolean {
    const until = this.#clean.get(idc);
    return !(until !== undefined && until > this.now());
  }

  async succeed(idc: string): Promise<void> {
    if (this.clearNeeded(idc)) await this.repo.clear(idc);
  }
}
