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

/**
 * Failures of one IDc within a window lock it; each further lockout doubles
 * the time (back-off) up to a ceiling. A success clears the record.
 */
export class Lockout {
  constructor(private readonly repo: FailureRepo, private readonly policy: LockoutPolicy, private readonly now: () => number) {}

  async status(idc: string): Promise<LockStatus> {
    const s = await this.repo.get(idc);
    return this.#statusOf(s);
  }

  #statusOf(s: FailureState | undefined): LockStatus {
    const t = this.now();
    if (!s || s.lockedUntil <= t) return { locked: false };
    return { locked: true, retryAfterSeconds: Math.ceil((s.lockedUntil - t) / 1000) };
  }

  async fail(idc: string): Promise<LockStatus> {
    const t = this.now();
    const p = this.policy;
    const s: FailureState = (await this.repo.get(idc)) ?? { idc, count: 0, windowStart: t, lockouts: 0, lockedUntil: 0 };
    if (s.lockedUntil > t) return this.#statusOf(s);
    if (t - s.windowStart > p.windowSeconds * 1000 || (s.lockedUntil > 0 && s.lockedUntil <= t && s.count >= p.threshold)) {
      s.count = 0;
      s.windowStart = t;
    }
    s.count += 1;
    if (s.count >= p.threshold) {
      const seconds = Math.min(p.maxSeconds, p.baseSeconds * 2 ** s.lockouts);
      s.lockouts += 1;
      s.lockedUntil = t + seconds * 1000;
    }
    await this.repo.put(s);
    return this.#statusOf(s);
  }

  async succeed(idc: string): Promise<void> {
    await this.repo.clear(idc);
  }
}
