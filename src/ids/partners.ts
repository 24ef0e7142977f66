/**
 * Partners: one stateful record per flow, per address and per identity, with
 * the rule counters that concern it. Bounded: each table has a cap (at the
 * cap the oldest partner goes) and partners idle for `idleMs` are swept.
 * Counters are an approximate sliding window (this window's count plus the
 * previous one's, weighted by how much of it still overlaps): two numbers and
 * a start per rule, allocated on the rule's first match for that partner.
 */
import { ArrivalOrder } from '../lib/arrival-order.js';
import type { CompiledRule } from './rules.js';
import type { SharedCount } from './shared.js';

export class Counter {
  start = 0;
  cur = 0;
  prev = 0;
  /** scan: identities seen this window (bounded by the rule's number). */
  seen: Set<string> | undefined;
  /** The last time this counter fired (one detection per window). */
  firedAt = -Infinity;
  /** Its share across instances, when the engine shares counts (shared.ts). */
  s: SharedCount | undefined;

  /** Adds one; returns the windowed count. */
  add(t: number, intervalMs: number): number {
    this.#roll(t, intervalMs);
    this.cur++;
    return this.value(t, intervalMs);
  }

  value(t: number, intervalMs: number): number {
    this.#roll(t, intervalMs);
    const overlap = 1 - (t - this.start) / intervalMs;
    return this.cur + this.prev * (overlap > 0 ? overlap : 0);
  }

  /** scan: adds a distinct key; returns how many distinct keys this window (capped at cap + 1). */
  distinct(t: number, intervalMs: number, key: string, cap: number): number {
    const rolled = this.#roll(t, intervalMs);
    if (rolled || !this.seen) this.seen = new Set();
    if (this.seen.size <= cap) this.seen.add(key);
    return this.seen.size;
  }

  #roll(t: number, intervalMs: number): boolean {
    const d = t - this.start;
    if (d < intervalMs) return false;
    if (d < 2 * intervalMs) {
      this.prev = this.cur;
      this.start += intervalMs;
    } else {
      this.prev = 0;
      this.start = t;
    }
    this.cur = 0;
    return true;
  }
}

export type PartnerKind = 'flow' | 'address' | 'identity' | 'global';

export class Partner {
  readonly created: number;
  last: number;
  messages = 0;
  authOk = 0;
  authFailed = 0;
  /** When this partner last authenticated successfully (0: never). */
  goodAt = 0;
  /** Identities that authenticated from here (flows and addresses), bounded. */
  goodIds: Set<string> | undefined;
  /** Flows of this address blocked (address partners): the evidence for escalating to the address. */
  flowsBlocked = 0;
  flowsBlockedAt = 0;
  counters: (Counter | undefined)[] = [];
  version = 0;

  constructor(
    readonly kind: PartnerKind,
    readonly key: string,
    t: number,
  ) {
    this.created = t;
    this.last = t;
  }

  counter(rule: CompiledRule, version: number): Counter {
    if (this.version !== version) {
      this.counters = [];
      this.version = version;
    }
    return (this.counters[rule.index] ??= new Counter());
  }

  hasGood(identity: string | undefined, t: number, goodMs: number): boolean {
    if (this.goodAt === 0 || t - this.goodAt > goodMs) return false;
    return identity === undefined || (this.goodIds?.has(identity) ?? false);
  }

  markGood(identity: string | undefined, t: number): void {
    this.goodAt = t;
    this.authOk++;
    if (identity === undefined) return;
    this.goodIds ??= new Set();
    if (this.goodIds.size >= 64) this.goodIds.delete(this.goodIds.values().next().value!);
    this.goodIds.add(identity);
  }
}

/** One table of partners of a kind. */
export class PartnerTable {
  readonly #map = new Map<string, Partner>();
  /** Creation order beside the Map: the bound takes exactly the oldest partner without walking the Map's holes. */
  readonly #order = new ArrivalOrder(this.#map);
  evicted = 0;

  constructor(
    readonly kind: PartnerKind,
    readonly max: number,
  ) {}

  get size(): number {
    return this.#map.size;
  }

  peek(key: string): Partner | undefined {
    return this.#map.get(key);
  }

  touch(key: string, t: number): Partner {
    let p = this.#map.get(key);
    if (p) {
      p.last = t;
      return p;
    }
    if (this.#map.size >= this.max) {
      // The oldest partner goes, one per new one (a flood must not push out more of the others at once): memory stays bounded.
      this.#order.shift();
      this.evicted++;
    }
    p = new Partner(this.kind, key, t);
    this.#map.set(key, p);
    this.#order.push(key, p);
    return p;
  }

  sweep(t: number, idleMs: number): void {
    for (const [k, p] of this.#map) if (t - p.last > idleMs && (p.goodAt === 0 || t - p.goodAt > idleMs)) this.#map.delete(k);
  }

  values(): IterableIterator<Partner> {
    return this.#map.values();
  }
}
