/**
 * Bindings of an AoR kept in memory for call routing, so that routing an
 * INVITE reads the location store at most once per AoR per `ttlMs`.
 *
 * Changes made by this process (REGISTER, de-registration, expiry sweep)
 * invalidate the AoR at once (`invalidate`, called by the registrar's repo
 * wrapper in run.ts); changes made by another softswitch instance sharing the
 * store are seen after at most `ttlMs`. Expired bindings are filtered out on
 * every read, so expiry needs no invalidation.
 */
import type { SipBinding } from '../store/bindings.js';
import { dropOldest } from '../lib/map-eviction.js';

export interface LocationSource {
  current(aor: string): Promise<SipBinding[]>;
}

export interface LocationCacheOptions {
  /** How long a read may be reused (default 2000 ms). 0 disables caching. */
  ttlMs?: number;
  /** AoRs kept (default 100000); at the bound the oldest sixteenth goes at once (read again when next routed to). */
  maxEntries?: number;
  now?: () => number;
}

export interface LocationCacheStats {
  hits: number;
  misses: number;
  invalidations: number;
  size: number;
}

interface Entry {
  readAt: number;
  value: SipBinding[] | undefined;
  pending: Promise<SipBinding[]> | undefined;
}

export class LocationCache {
  readonly #src: LocationSource;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #map = new Map<string, Entry>();
  readonly st = { hits: 0, misses: 0, invalidations: 0 };

  constructor(src: LocationSource, o: LocationCacheOptions = {}) {
    this.#src = src;
    this.#ttl = o.ttlMs ?? 2000;
    this.#max = o.maxEntries ?? 100_000;
    this.#now = o.now ?? Date.now;
  }

  /** Live bindings of the AoR, highest q first (as the store orders them). */
  async lookup(aor: string): Promise<SipBinding[]> {
    const t = this.#now();
    const e = this.#map.get(aor);
    if (e) {
      if (e.value && t - e.readAt < this.#ttl) {
        this.st.hits++;
        return live(e.value, t);
      }
      if (e.pending) {
        this.st.hits++;
        return live(await e.pending, this.#now());
      }
    }
    this.st.misses++;
    const entry: Entry = { readAt: t, value: undefined, pending: undefined };
    entry.pending = this.#src.current(aor);
    if (this.#ttl > 0) {
      // Not one per miss at the bound: a Map walked from its head crosses every entry deleted before (src/lib/map-eviction.ts).
      if (!this.#map.delete(aor) && this.#map.size >= this.#max) dropOldest(this.#map, Math.max(1, this.#max >> 4));
      this.#map.set(aor, entry);
    }
    try {
      const v = await entry.pending;
      // An invalidation while the read was in flight replaced or removed the entry: do not revive it.
      if (this.#map.get(aor) === entry) {
        entry.value = v;
        entry.pending = undefined;
      }
      return live(v, this.#now());
    } catch (err) {
      if (this.#map.get(aor) === entry) this.#map.delete(aor);
      throw err;
    }
  }

  invalidate(aor: string): void {
    if (this.#map.delete(aor)) this.st.invalidations++;
  }

  clear(): void {
    this.#map.clear();
  }

  stats(): LocationCacheStats {
    return { ...this.st, size: this.#map.size };
  }
}

function live(list: SipBinding[], t: number): SipBinding[] {
  for (const b of list) if (b.expiresAt <= t) return list.filter((x) => x.expiresAt > t);
  return list;
}
