/**
 * The Prometheus registry of a process, on prom-client (docs/metrics.md says
 * why): counters, gauges and histograms with declared labels, the process
 * metrics prom-client collects, and the text exposition format 0.0.4.
 *
 * This thin layer keeps what the roles relied on before prom-client: labels
 * are checked against the declared names (a missing or unknown label is a
 * bug, not a new series), each metric has a cap on its series (labels come
 * from bounded sets; the cap is a safety net against a label fed by the
 * network), values are readable synchronously (tests, and `snapshot()` for
 * the web console), and hooks bring pulled counters up to date before each
 * scrape.
 */
import client from 'prom-client';

export const METRICS_CONTENT_TYPE: string = client.Registry.PROMETHEUS_CONTENT_TYPE;

export type Labels = Record<string, string | number>;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Seconds: from a millisecond registration to a slow AuC behind failover. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Call setup waits for a person to pick up: longer buckets. */
export const CALL_SETUP_BUCKETS: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One series as `snapshot()` returns it. */
export interface SeriesValue {
  labels: Record<string, string>;
  /** Counter or gauge value; for a histogram, the sum of the observations. */
  value: number;
  /** Histograms only: how many observations. */
  count?: number;
}

export interface MetricSnapshot {
  name: string;
  type: MetricType;
  help: string;
  series: SeriesValue[];
}

abstract class Metric {
  abstract readonly type: MetricType;
  /** Values by rendered label set, in the declared order (what `get` and `snapshot` read). */
  protected readonly values = new Map<string, { labels: Record<string, string>; value: number; count: number }>();
  readonly #maxSeries: number;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    maxSeries: number,
  ) {
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new Error(`bad label name ${JSON.stringify(l)}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error('duplicate label name');
    this.#maxSeries = maxSeries;
  }

  /** The label set in the declared order, checked; its key. */
  protected labelsOf(given: Labels | undefined): { key: string; labels: Record<string, string> } {
    const key = this.#keyOf(given);
    const labels: Record<string, string> = {};
    for (const l of this.labelNames) labels[l] = String(given![l]);
    return { key, labels };
  }

  /**
   * The series key of a label set (values in the declared order), checked: a
   * missing or unknown label throws. Each value is written as it is, unless it
   * could be mistaken for a separator or an escaped value (it holds a NUL or
   * starts with a quote), when it is written as JSON, so two label sets never
   * share a key. Made per observation, so no object is built for it.
   */
  #keyOf(given: Labels | undefined): string {
    const names = this.labelNames;
    if (given) for (const k in given) if (!names.includes(k)) throw new Error(`unknown label ${JSON.stringify(k)} for ${this.name}`);
    let key = '';
    for (let i = 0; i < names.length; i++) {
      const v = given?.[names[i]!];
      if (v === undefined) throw new Error(`missing label ${names[i]} for ${this.name}`);
      const t = typeof v === 'string' ? v : String(v);
      key += (t.includes('\0') || t.startsWith('"') ? JSON.stringify(t) : t) + '\0';
    }
    return key;
  }

  /** The series of that label set, made on first use within the cap. */
  protected series(given: Labels | undefined): { labels: Record<string, string>; value: number; count: number } {
    const key = this.#keyOf(given);
    let s = this.values.get(key);
    if (!s) {
      if (this.values.size >= this.#maxSeries) throw new Error(`${this.name}: too many label sets`);
      s = { labels: this.labelsOf(given).labels, value: 0, count: 0 };
      this.values.set(key, s);
    }
    return s;
  }

  /** Current value of one series (0 when never touched); for a histogram, the sum of its observations. */
  get(labels?: Labels): number {
    return this.values.get(this.labelsOf(labels).key)?.value ?? 0;
  }

  /** Runs before the values are read (gauges computed at scrape time). */
  collect(): void {}

  snapshot(): MetricSnapshot {
    this.collect();
    const series = [...this.values.values()].map((s) => ({ labels: { ...s.labels }, value: s.value, ...(this.type === 'histogram' ? { count: s.count } : {}) }));
    if (series.length === 0 && this.labelNames.length === 0 && this.type !== 'histogram') series.push({ labels: {}, value: 0 });
    return { name: this.name, type: this.type, help: this.help, series };
  }
}

export class Counter extends Metric {
  readonly type = 'counter' as const;
  readonly #prom: client.Counter<string>;

  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly string[], maxSeries: number) {
    super(name, help, labelNames, maxSeries);
    const values = this.values;
    // prom-client's copy is brought up to date at scrape time, not per increment (its label hashing and checks
    // cost more than the increment, several times per request): the values here are the only ones kept live.
    this.#prom = new client.Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of values.values()) this.inc(s.labels, s.value);
      },
    });
  }

  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error('a counter only goes up');
    const s = this.series(labels);
    s.value += by;
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge' as const;
  readonly #prom: client.Gauge<string>;
  #collect: ((g: Gauge) => void) | undefined;

  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly string[], maxSeries: number) {
    super(name, help, labelNames, maxSeries);
    const self = this;
    this.#prom = new client.Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect() {
        self.collect();
      },
    });
  }

  set(value: number, labels?: Labels): void {
    const s = this.series(labels);
    s.value = value;
    this.#prom.set(s.labels, value);
  }

  inc(labels?: Labels, by = 1): void {
    const s = this.series(labels);
    s.value += by;
    this.#prom.set(s.labels, s.value);
  }

  dec(labels?: Labels, by = 1): void {
    this.inc(labels, -by);
  }

  /** Computes the value(s) at scrape time (e.g. a table's size). */
  onCollect(fn: (g: Gauge) => void): this {
    this.#collect = fn;
    return this;
  }

  override collect(): void {
    this.#collect?.(this);
  }
}

export class Histogram extends Metric {
  readonly type = 'histogram' as const;
  readonly #prom: client.Histogram<string>;

  /** Upper bounds, ascending, as prom-client keys its buckets. */
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative) by series; undefined when prom-client is fed per observation. */
  readonly #counts: Map<object, number[]> | undefined;

  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly string[], maxSeries: number, buckets: readonly number[]) {
    super(name, help, labelNames, maxSeries);
    const values = this.values;
    const counts = new Map<object, number[]>();
    let bounds: readonly number[] = [];
    // Buckets are counted here and handed to prom-client at scrape time: its observe() hashes and checks the labels
    // again on every call (several per request). That writes prom-client 15's per-series record ({ labels,
    // bucketValues by upper bound, sum, count } in `hashMap`), so it is done only if the record is where 15 keeps
    // it; otherwise every observation goes to prom-client as before.
    this.#prom = new client.Histogram({
      name,
      help,
      labelNames: [...labelNames],
      buckets: [...buckets],
      registers: [registry],
      collect() {
        const map: Record<string, PromHistogramRecord> = {};
        let i = 0;
        for (const s of values.values()) {
          const per = counts.get(s);
          const bucketValues: Record<number, number> = {};
          bounds.forEach((b, j) => (bucketValues[b] = per?.[j] ?? 0));
          map[String(i++)] = { labels: s.labels, bucketValues, sum: s.value, count: s.count };
        }
        if (i === 0 && labelNames.length === 0) map['0'] = { labels: {}, bucketValues: Object.fromEntries(bounds.map((b) => [b, 0])), sum: 0, count: 0 };
        (this as unknown as { hashMap: Record<string, PromHistogramRecord> }).hashMap = map;
      },
    });
    const internals = this.#prom as unknown as { hashMap?: unknown; upperBounds?: unknown };
    const ub = internals.upperBounds;
    if (typeof internals.hashMap === 'object' && internals.hashMap !== null && Array.isArray(ub) && ub.every((b, j) => typeof b === 'number' && (j === 0 || b > ub[j - 1]))) {
      bounds = ub as number[];
      this.#counts = counts;
    } else {
      // not the prom-client this was written for: no scrape-time record, prom-client counts as it always did
      (this.#prom as unknown as { collect?: unknown }).collect = undefined;
      this.#counts = undefined;
    }
    this.#bounds = bounds;
  }

  observe(labels: Labels | undefined, seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    const s = this.series(labels);
    s.value += seconds;
    s.count++;
    const counts = this.#counts;
    if (!counts) {
      this.#prom.observe(s.labels, seconds);
      return;
    }
    const bounds = this.#bounds;
    let per = counts.get(s);
    if (!per) counts.set(s, (per = new Array<number>(bounds.length).fill(0)));
    for (let j = 0; j < bounds.length; j++) {
      if (seconds <= bounds[j]!) {
        per[j]!++;
        break;
      }
    }
  }

  /** Observations so far of one series. */
  count(labels?: Labels): number {
    return this.values.get(this.labelsOf(labels).key)?.count ?? 0;
  }

  /** Starts a clock; the returned function observes the seconds since, with the labels then known. */
  startTimer(): (labels?: Labels) => number {
    const t0 = process.hrtime.bigint();
    return (labels) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      this.observe(labels, s);
      return s;
    };
  }
}

/** A series as prom-client 15's Histogram keeps it (what its exposition reads). */
interface PromHistogramRecord {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

export interface MetricOptions {
  labelNames?: readonly string[];
  /** Series per metric (default 1000). */
  maxSeries?: number;
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds in seconds (default LATENCY_BUCKETS). */
  buckets?: readonly number[];
}

type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  readonly #prom = new client.Registry();
  readonly #metrics = new Map<string, AnyMetric>();
  readonly #beforeCollect: (() => void)[] = [];
  #processMetrics = false;

  counter(name: string, help: string, o: MetricOptions = {}): Counter {
    const labels = o.labelNames ?? [];
    return this.#add('counter', name, labels, () => new Counter(this.#prom, name, help, labels, o.maxSeries ?? 1000));
  }

  gauge(name: string, help: string, o: MetricOptions = {}): Gauge {
    const labels = o.labelNames ?? [];
    return this.#add('gauge', name, labels, () => new Gauge(this.#prom, name, help, labels, o.maxSeries ?? 1000));
  }

  histogram(name: string, help: string, o: HistogramOptions = {}): Histogram {
    const labels = o.labelNames ?? [];
    return this.#add('histogram', name, labels, () => new Histogram(this.#prom, name, help, labels, o.maxSeries ?? 1000, o.buckets ?? LATENCY_BUCKETS));
  }

  /** The registered metric of that name, if any (several roles in one process share a registry). */
  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  /** Runs `fn` before every scrape and snapshot: counters pulled from a component's own statistics. */
  beforeCollect(fn: () => void): void {
    this.#beforeCollect.push(fn);
  }

  /**
   * Makes `counter` follow running counts kept elsewhere (a component's own statistics), one series per
   * value of `label`: before each scrape it moves by what each count grew since the last (a count that went
   * down, a component restarted, moves it by nothing). `read` gives the counts by label value, or nothing
   * while there is nothing to read; every value read is shown, at 0 until it grows. `keys` are shown at 0
   * from the start; `labels` are added to every series.
   */
  follow(counter: Counter, label: string, read: () => Readonly<Record<string, number>> | undefined, o: { keys?: readonly string[]; labels?: Labels } = {}): void {
    const seen = new Map<string, number>();
    const labelsOf = (k: string): Labels => ({ ...o.labels, [label]: k });
    for (const k of o.keys ?? []) {
      counter.inc(labelsOf(k), 0);
      seen.set(k, 0);
    }
    this.beforeCollect(() => {
      const now = read();
      if (!now) return;
      for (const k of Object.keys(now)) {
        const v = now[k]!;
        counter.inc(labelsOf(k), Math.max(0, v - (seen.get(k) ?? 0)));
        seen.set(k, v);
      }
    });
  }

  /**
   * prom-client's process metrics: CPU, resident memory, heap, open file
   * descriptors, event-loop lag, garbage collection, Node version. Once per
   * registry; one registry per process collects them.
   */
  collectProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    client.collectDefaultMetrics({ register: this.#prom });
  }

  /** The exposition text (format 0.0.4), served with METRICS_CONTENT_TYPE. */
  async render(): Promise<string> {
    this.#runHooks();
    const text = await this.#prom.metrics();
    // prom-client separates metrics by an empty line (one sample per line reads and greps better)
    // and writes NaN as `Nan` (the format says NaN).
    return text.replace(/\n\n+/g, '\n').replace(/ Nan$/gm, ' NaN');
  }

  /**
   * Every metric of this registry with its current values, synchronously
   * (process metrics excepted): what an in-process reader such as the web
   * console samples to draw rates (see MetricsHistory).
   */
  snapshot(): MetricSnapshot[] {
    this.#runHooks();
    return [...this.#metrics.values()].map((m) => m.snapshot());
  }

  /** Sum over every series of a metric (0 when it does not exist). */
  total(name: string, where: Record<string, string> = {}): number {
    const m = this.#metrics.get(name);
    if (!m) return 0;
    let sum = 0;
    for (const s of m.snapshot().series) {
      if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  #runHooks(): void {
    for (const fn of this.#beforeCollect) fn();
  }

  #add<T extends AnyMetric>(type: MetricType, name: string, labelNames: readonly string[], make: () => T): T {
    const had = this.#metrics.get(name);
    if (had) {
      if (had.type === type && had.labelNames.join(',') === labelNames.join(',')) return had as T;
      throw new Error(`metric ${name} already registered with another type or labels`);
    }
    const m = make();
    this.#metrics.set(name, m);
    return m;
  }
}
