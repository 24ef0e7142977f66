/**
 * Rates over the last hour, in process, for the web console's dashboard
 * (docs/metrics.md, "For the web console"): the totals of chosen counters
 * sampled on a timer, and the increase per minute between samples. No
 * Prometheus server is needed for the dashboard; one is for anything longer.
 */
import type { MetricsRegistry } from './registry.js';

export interface HistoryOptions {
  /** Counter names to follow, each summed over its series, or with a label filter. */
  follow: readonly (string | { name: string; as: string; where: Record<string, string> })[];
  /** Sampling period (default 60 s). */
  intervalMs?: number;
  /** Samples kept (default 61: an hour of minutes and its start). */
  keep?: number;
  now?: () => number;
}

export interface HistorySample {
  /** Unix milliseconds. */
  at: number;
  totals: Record<string, number>;
}

export interface RatePoint {
  /** End of the interval, Unix milliseconds. */
  at: number;
  /** Increase per minute over the interval, by followed name. */
  perMinute: Record<string, number>;
}

/** Where totals are read: a registry, or under `keyswitch up` the AuC's plus the other roles' (src/cli/up-child.ts). */
export type TotalsSource = Pick<MetricsRegistry, 'total'>;

export class MetricsHistory {
  readonly #registry: TotalsSource;
  readonly #follow: { name: string; as: string; where: Record<string, string> }[];
  readonly #keep: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #samples: HistorySample[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(registry: TotalsSource, o: HistoryOptions) {
    this.#registry = registry;
    this.#follow = o.follow.map((f) => (typeof f === 'string' ? { name: f, as: f, where: {} } : f));
    this.#keep = Math.max(2, o.keep ?? 61);
    this.#intervalMs = o.intervalMs ?? 60_000;
    this.#now = o.now ?? Date.now;
  }

  /** Takes a first sample and then one per interval (the timer does not keep the process alive). */
  start(): this {
    if (this.#timer) return this;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One sample now (also what the timer does). */
  sample(): HistorySample {
    const totals: Record<string, number> = {};
    for (const f of this.#follow) totals[f.as] = this.#registry.total(f.name, f.where);
    const s = { at: this.#now(), totals };
    this.#samples.push(s);
    if (this.#samples.length > this.#keep) this.#samples.shift();
    return s;
  }

  samples(): HistorySample[] {
    return this.#samples.map((s) => ({ at: s.at, totals: { ...s.totals } }));
  }

  /** Increase per minute between consecutive samples (a counter that went down, after a restart, counts from 0). */
  rates(): RatePoint[] {
    const out: RatePoint[] = [];
    for (let i = 1; i < this.#samples.length; i++) {
      const a = this.#samples[i - 1]!;
      const b = this.#samples[i]!;
      const minutes = Math.max(1e-9, (b.at - a.at) / 60_000);
      const perMinute: Record<string, number> = {};
      for (const k of Object.keys(b.totals)) {
        const before = a.totals[k] ?? 0;
        const now = b.totals[k]!;
        perMinute[k] = (now >= before ? now - before : now) / minutes;
      }
      out.push({ at: b.at, perMinute });
    }
    return out;
  }
}
