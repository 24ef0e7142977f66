/**
 * Failures per flow (`address:port`) on the untrusted side (bad credentials, replays,
 * bad app-hmac tags, refused identities). The intrusion detection will read
 * these; for now they are counted, bounded, and exposed in stats. At the
 * bound the least recently failed sixteenth is forgotten at once
 * (src/lib/map-eviction.ts: one per insert walked the Map's holes).
 */
import { dropOldest } from '../lib/map-eviction.js';

export type FailureKind =
  | 'bad-request' // malformed KS1 parameters
  | 'replay' // s1/s7 outside the window, seen N1, unknown N2
  | 'wrong-response' // the core re-challenged an s7
  | 'forbidden' // unknown/locked IDc, wrong proxy
  | 'app-hmac' // missing, wrong or replayed KS-HMAC
  | 'transport-binding' // a protected terminal's message on the wrong connection
  | 'signature'; // a header signature (Via, Record-Route, route set) that failed

export interface SourceFailures {
  total: number;
  byKind: Partial<Record<FailureKind, number>>;
  first: number; // Unix ms
  last: number;
}

export class FailureCounter {
  readonly #bySource = new Map<string, SourceFailures>();
  readonly #totals: Partial<Record<FailureKind, number>> = {};
  #version = 0;

  constructor(
    private readonly maxSources = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  count(source: string, kind: FailureKind): SourceFailures {
    this.#version++;
    this.#totals[kind] = (this.#totals[kind] ?? 0) + 1;
    let s = this.#bySource.get(source);
    const t = this.now();
    if (s) this.#bySource.delete(source); // re-insert: the map's order is least recently failed first
    else {
      if (this.#bySource.size >= this.maxSources) dropOldest(this.#bySource, Math.max(1, this.maxSources >> 4));
      s = { total: 0, byKind: {}, first: t, last: t };
    }
    s.total++;
    s.byKind[kind] = (s.byKind[kind] ?? 0) + 1;
    s.last = t;
    this.#bySource.set(source, s);
    return s;
  }

  get(source: string): SourceFailures | undefined {
    return this.#bySource.get(source);
  }

  /** Changes with every failure counted or forgotten: whether a copy taken earlier is stale. */
  get version(): number {
    return this.#version;
  }

  /** The `max` sources with most failures (copies), most first; ties by most recent. */
  top(max: number): Array<{ source: string } & SourceFailures> {
    const out: Array<{ source: string } & SourceFailures> = [];
    for (const [source, s] of this.#bySource) out.push({ source, ...s, byKind: { ...s.byKind } });
    out.sort((a, b) => b.total - a.total || b.last - a.last);
    return out.slice(0, max);
  }

  /** Forgets a source's failures (an operator lifted its block: it starts again from nothing). */
  forget(source: string): boolean {
    const had = this.#bySource.delete(source);
    if (had) this.#version++;
    return had;
  }

  /** Totals by kind and the sources with most failures. */
  snapshot(top = 10): { totals: Partial<Record<FailureKind, number>>; sources: number; top: Array<{ source: string } & SourceFailures> } {
    const all = [...this.#bySource.entries()].map(([source, s]) => ({ source, ...s, byKind: { ...s.byKind } }));
    all.sort((a, b) => b.total - a.total);
    return { totals: { ...this.#totals }, sources: this.#bySource.size, top: all.slice(0, top) };
  }
}
