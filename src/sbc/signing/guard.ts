/**
 * Signature-failure counter per flow, `address:port` (docs/header-signing.md):
 * past `threshold` failures within `windowMs` the source is blocked for
 * `blockMs`, and one alert is raised for that block. Blocked sources are
 * dropped before their messages are parsed (`isBlocked` is a Map lookup).
 *
 * Memory is bounded: at most `maxSources` counters and `maxBlocked` blocks.
 * At a bound the oldest sixteenth goes at once (the least recently failed
 * counters; the blocks that began first, so expired ones before any in
 * force), not one per insert: a Map walked from its head crosses every entry
 * deleted before (src/lib/map-eviction.ts).
 */
import type { Logger } from '../../log/logger.js';
import { dropOldest } from '../../lib/map-eviction.js';

export interface GuardAlert {
  source: string;
  failures: number;
  windowMs: number;
  blockedUntil: number;
}

export interface SignatureGuardOptions {
  /** Failures within the window that trigger a block (default 10). */
  threshold?: number;
  /** Sliding window (default 1000 ms). */
  windowMs?: number;
  /** How long a source stays blocked (default 60 s). */
  blockMs?: number;
  maxSources?: number;
  maxBlocked?: number;
  now?: () => number;
  /** Called once per block. */
  onAlert?: (a: GuardAlert) => void;
  /** Where the alert is logged (warn), once per block. */
  logger?: Pick<Logger, 'warn'>;
}

interface Counter {
  /** Ring of the last `threshold` failure times. */
  times: Float64Array;
  next: number;
  count: number;
}

export class SignatureGuard {
  readonly threshold: number;
  readonly windowMs: number;
  readonly blockMs: number;
  readonly #maxSources: number;
  readonly #maxBlocked: number;
  readonly #now: () => number;
  readonly #onAlert: ((a: GuardAlert) => void) | undefined;
  readonly #logger: Pick<Logger, 'warn'> | undefined;
  readonly #counters = new Map<string, Counter>();
  readonly #blocked = new Map<string, number>();
  #blocks = 0;
  #dropped = 0;

  constructor(o: SignatureGuardOptions = {}) {
    this.threshold = o.threshold ?? 10;
    this.windowMs = o.windowMs ?? 1000;
    this.blockMs = o.blockMs ?? 60_000;
    if (!(Number.isInteger(this.threshold) && this.threshold >= 1)) throw new Error('threshold must be a positive integer');
    if (!(this.windowMs > 0) || !(this.blockMs > 0)) throw new Error('window and block time must be positive');
    this.#maxSources = o.maxSources ?? 10_000;
    this.#maxBlocked = o.maxBlocked ?? 10_000;
    this.#now = o.now ?? Date.now;
    this.#onAlert = o.onAlert;
    this.#logger = o.logger;
  }

  /** Whether any source is blocked (expired entries included): lets a caller skip building a key per message. */
  get blocking(): boolean {
    return this.#blocked.size > 0;
  }

  /** True while the source is blocked: drop its message unread. */
  isBlocked(source: string): boolean {
    const until = this.#blocked.get(source);
    if (until === undefined) return false;
    if (until > this.#now()) {
      this.#dropped++;
      return true;
    }
    this.#blocked.delete(source);
    return false;
  }

  /** Counts one failed signature from `source`; true when this failure blocked it. */
  fail(source: string): boolean {
    const now = this.#now();
    const until = this.#blocked.get(source);
    if (until !== undefined && until > now) return false;
    let c = this.#counters.get(source);
    if (c) this.#counters.delete(source); // re-inserted below: the Map's order is recency
    else {
      if (this.#counters.size >= this.#maxSources) dropOldest(this.#counters, Math.max(1, this.#maxSources >> 4));
      c = { times: new Float64Array(this.threshold), next: 0, count: 0 };
    }
    c.times[c.next] = now;
    c.next = (c.next + 1) % this.threshold;
    if (c.count < this.threshold) c.count++;
    // With a full ring, the slot about to be overwritten holds the oldest of the last `threshold` failures.
    const oldest = c.times[c.count < this.threshold ? 0 : c.next]!;
    if (c.count >= this.threshold && now - oldest < this.windowMs) {
      this.#counters.delete(source);
      this.#block(source, now);
      return true;
    }
    this.#counters.set(source, c);
    return false;
  }

  /** Lifts a block (operator action). */
  unblock(source: string): boolean {
    return this.#blocked.delete(source);
  }

  /** Blocks in force, with until when (for operators: docs/operations.md). */
  blocks(): Array<{ source: string; until: number }> {
    const now = this.#now();
    const out: Array<{ source: string; until: number }> = [];
    for (const [source, until] of this.#blocked) if (until > now) out.push({ source, until });
    return out;
  }

  /** Sources blocked right now. */
  blockedSources(): string[] {
    const now = this.#now();
    const out: string[] = [];
    for (const [s, until] of this.#blocked) if (until > now) out.push(s);
    return out;
  }

  stats(): { tracked: number; blocked: number; blocks: number; dropped: number } {
    return { tracked: this.#counters.size, blocked: this.blockedSources().length, blocks: this.#blocks, dropped: this.#dropped };
  }

  #block(source: string, now: number): void {
    // An expired block still held is taken out first, so that the Map's order stays the order blocks began, which is
    // the order they end (blockMs is one for all): its head holds the expired ones, then those that end soonest.
    this.#blocked.delete(source);
    if (this.#blocked.size >= this.#maxBlocked) dropOldest(this.#blocked, Math.max(1, this.#maxBlocked >> 4));
    const until = now + this.blockMs;
    this.#blocked.set(source, until);
    this.#blocks++;
    const alert: GuardAlert = { source, failures: this.threshold, windowMs: this.windowMs, blockedUntil: until };
    this.#logger?.warn({ alert: 'signature-failures', source, failures: this.threshold, windowMs: this.windowMs, blockedForMs: this.blockMs }, 'SBC: too many header-signature failures; source blocked');
    this.#onAlert?.(alert);
  }
}
