/**
 * A small Prometheus registry: counters and gauges with labels, rendered in
 * the text exposition format 0.0.4. Enough for `/metrics` on the SBC and
 * the softswitch without a dependency.
 */

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Record<string, string | number>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

abstract class Metric {
  readonly #series = new Map<string, { labels: string; value: number }>();
  readonly #maxSeries: number;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    maxSeries: number,
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new Error(`bad label name ${JSON.stringify(l)}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error('duplicate label name');
    this.#maxSeries = maxSeries;
  }

  abstract readonly type: 'counter' | 'gauge';

  #key(labels: Labels | undefined): string {
    // The key is the rendered label set, in the declared order.
    const given = labels ?? {};
    for (const k in given) if (!this.labelNames.includes(k)) throw new Error(`unknown label ${JSON.stringify(k)} for ${this.name}`);
    if (this.labelNames.length === 0) return '';
    const parts: string[] = [];
    for (const l of this.labelNames) {
      const v = given[l];
      if (v === undefined) throw new Error(`missing label ${l} for ${this.name}`);
      parts.push(`${l}="${escapeLabelValue(String(v))}"`);
    }
    return '{' + parts.join(',') + '}';
  }

  protected series(labels: Labels | undefined): { labels: string; value: number } {
    const key = this.#key(labels);
    let s = this.#series.get(key);
    if (!s) {
      // Labels come from bounded sets (check names, reasons); the cap is a safety net, not a policy.
      if (this.#series.size >= this.#maxSeries) throw new Error(`${this.name}: too many label sets`);
      s = { labels: key, value: 0 };
      this.#series.set(key, s);
    }
    return s;
  }

  /** Current value of one series (0 when never touched). */
  get(labels?: Labels): number {
    return this.#series.get(this.#key(labels))?.value ?? 0;
  }

  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    if (this.#series.size === 0 && this.labelNames.length === 0) this.series(undefined);
    for (const s of this.#series.values()) out += `${this.name}${s.labels} ${formatValue(s.value)}\n`;
    return out;
  }
}

export class Counter extends Metric {
  readonly type = 'counter' as const;

  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error('a counter only goes up');
    this.series(labels).value += by;
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge' as const;
  #collect: (() => void) | undefined;

  set(value: number, labels?: Labels): void {
    this.series(labels).value = value;
  }

  inc(labels?: Labels, by = 1): void {
    this.series(labels).value += by;
  }

  dec(labels?: Labels, by = 1): void {
    this.series(labels).value -= by;
  }

  /** Computes the value(s) at render time (e.g. a table's size). */
  onCollect(fn: (g: Gauge) => void): this {
    this.#collect = () => fn(this);
    return this;
  }

  override render(): string {
    this.#collect?.();
    return super.render();
  }
}

export interface MetricOptions {
  labelNames?: readonly string[];
  /** Series per metric (default 1000). */
  maxSeries?: number;
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  counter(name: string, help: string, o: MetricOptions = {}): Counter {
    return this.#add(new Counter(name, help, o.labelNames ?? [], o.maxSeries ?? 1000));
  }

  gauge(name: string, help: string, o: MetricOptions = {}): Gauge {
    return this.#add(new Gauge(name, help, o.labelNames ?? [], o.maxSeries ?? 1000));
  }

  /** The registered metric of that name, if any (several roles in one process share a registry). */
  get(name: string): Counter | Gauge | undefined {
    return this.#metrics.get(name) as Counter | Gauge | undefined;
  }

  /** The exposition text (format 0.0.4), served with METRICS_CONTENT_TYPE. */
  render(): string {
    let out = '';
    for (const m of this.#metrics.values()) out += m.render();
    return out;
  }

  #add<T extends Metric>(m: T): T {
    const had = this.#metrics.get(m.name);
    if (had) {
      if (had.type === m.type && had.labelNames.join(',') === m.labelNames.join(',')) return had as T;
      throw new Error(`metric ${m.name} already registered with another type or labels`);
    }
    this.#metrics.set(m.name, m);
    return m;
  }
}
