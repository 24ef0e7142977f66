/**
 * Failed voicemail sign-ins, counted in the AuC process per identity and per
 * source address (docs/voicemail.md, "Subscriber credentials"): after
 * `threshold` (per source: `sourceThreshold`) failures within `windowMs` the key is refused for `baseMs`,
 * doubling with each further lockout up to `maxMs`. Kept apart from the AuC's
 * registration lockout, so that guessing at the web page cannot lock a
 * subscriber's phone out of registering. Bounded: the oldest entries go first.
 */
export interface SignInGuardPolicy {
  /** Failures of one identity that lock it. */
  threshold: number;
  /** Failures from one source address (keys `ip:…`) that lock it: higher, since many subscribers may share an address (NAT). */
  sourceThreshold: number;
  windowMs: number;
  baseMs: number;
  maxMs: number;
  maxEntries: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
  lockouts: number;
}

export const SIGN_IN_DEFAULTS: SignInGuardPolicy = { threshold: 5, sourceThreshold: 20, windowMs: 600_000, baseMs: 60_000, maxMs: 3_600_000, maxEntries: 50_000 };

export class SignInGuard {
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly policy: SignInGuardPolicy, private readonly now: () => number) {}

  /** Whether any of these keys (identity, source) is locked now. */
  locked(keys: string[]): boolean {
    const t = this.now();
    return keys.some((k) => (this.#entries.get(k)?.lockedUntil ?? 0) > t);
  }

  failed(keys: string[]): void {
    const t = this.now();
    for (const k of keys) {
      let e = this.#entries.get(k);
      if (!e) {
        while (this.#entries.size >= this.policy.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
        e = { failures: [], lockedUntil: 0, lockouts: 0 };
        this.#entries.set(k, e);
      }
      e.failures = e.failures.filter((f) => f > t - this.policy.windowMs);
      e.failures.push(t);
      if (e.failures.length >= (k.startsWith('ip:') ? this.policy.sourceThreshold : this.policy.threshold)) {
        e.lockedUntil = t + Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** e.lockouts);
        e.lockouts++;
        e.failures = [];
      }
    }
  }

  succeeded(identityKey: string): void {
    this.#entries.delete(identityKey);
  }
}
