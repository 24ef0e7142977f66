import { unixSeconds } from './messages.js';

/**
 * Replay defences of the flow: the TS window, the seen-N1 cache and the
 * single-use tables (outstanding N2 at the SBC, vectors by Rand at the
 * softswitch). All take `now` in Unix ms from the caller's clock.
 *
 * Both tables are Maps in insertion order. Entries go in with expiries that
 * rise roughly with time, so expired ones are pruned from the front, at most
 * every 100 ms (amortised O(1); a lookup never trusts an expired entry meanwhile); a full scan runs only when the
 * table is at its bound, at most once per `sweepIntervalMs`, so a flood
 * cannot turn each insert into a scan. A full table refuses new entries
 * (the caller answers "busy") rather than forgetting entries early, which
 * would reopen a replay.
 */

export const DEFAULT_TS_WINDOW_SEC = 30;
export const DEFAULT_CHALLENGE_TTL_SEC = 30;
const PRUNE_EVERY_MS = 100;
const SWEEP_INTERVAL_MS = 1000;

/** TS (whole seconds) is within ±window of the clock. */
export function tsWithin(nowMs: number, ts: number, windowSec: number): boolean {
  return Number.isSafeInteger(ts) && Math.abs(unixSeconds(nowMs) - ts) <= windowSec;
}

// A 16-byte value as a 16-character one-byte string: the smallest Map key V8 offers.
const keyOf = (b: Buffer): string => b.toString('latin1');

abstract class ExpiringMap<V> {
  protected readonly map = new Map<string, V>();
  #lastSweep = -Infinity;
  #nextPrune = -Infinity;
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('table bound must be at least 1');
  }
  protected abstract expiry(v: V): number;

  get size(): number {
    return this.map.size;
  }

  /**
   * Makes room for one entry; false when the table is full of live entries. Expired entries are pruned
   * from the front every PRUNE_EVERY_MS, not on every insert: a Map keeps a deleted entry's slot until
   * it next grows and iteration walks those holes, so a walk per insert crossed every entry pruned
   * since (34 µs per check at 2,000/s with 60 s lifetimes, in process; now ~1 µs).
   */
  protected room(now: number): boolean {
    if (now >= this.#nextPrune) {
      this.#nextPrune = now + PRUNE_EVERY_MS;
      for (const [k, v] of this.map) {
        if (this.expiry(v) > now) break;
        this.map.delete(k);
      }
    }
    if (this.map.size < this.max) return true;
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return false;
    this.#lastSweep = now;
    this.sweep(now);
    return this.map.size < this.max;
  }

  /** Drops every expired entry. */
  sweep(now: number): void {
    for (const [k, v] of this.map) if (this.expiry(v) <= now) this.map.delete(k);
  }
}

export type SeenVerdict = 'fresh' | 'seen' | 'full';

/** Remembers each N1 until a message carrying it could no longer pass the TS check. */
export class SeenNonces extends ExpiringMap<number> {
  protected expiry(v: number): number {
    return v;
  }

  /** Checks and records `n` in one step; `expiresAt` in Unix ms. */
  check(n: Buffer, expiresAt: number, now: number): SeenVerdict {
    const k = keyOf(n);
    const prev = this.map.get(k);
    if (prev !== undefined && prev > now) return 'seen';
    if (prev !== undefined) this.map.delete(k);
    if (!this.room(now)) return 'full';
    this.map.set(k, expiresAt);
    return 'fresh';
  }
}

/** A single-use table: `take` returns an entry once, and never after it expired. */
export class SingleUseTable<V extends { expiresAt: number }> extends ExpiringMap<V> {
  protected expiry(v: V): number {
    return v.expiresAt;
  }

  /** False when the key is already present or the table is full. */
  add(key: Buffer, value: V, now: number): boolean {
    const k = keyOf(key);
    const prev = this.map.get(k);
    if (prev !== undefined) {
      if (prev.expiresAt > now) return false;
      this.map.delete(k);
    }
    if (!this.room(now)) return false;
    this.map.set(k, value);
    return true;
  }

  take(key: Buffer, now: number): V | undefined {
    const k = keyOf(key);
    const v = this.map.get(k);
    if (v === undefined) return undefined;
    this.map.delete(k);
    return v.expiresAt > now ? v : undefined;
  }
}
