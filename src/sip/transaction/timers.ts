/** RFC 3261 timer values (Table 4); configurable so tests can run fast. */
export interface TimerConfig {
  /** RTT estimate, default 500 ms. */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  T2: number;
  /** Maximum time a message stays in the network, default 5 s. */
  T4: number;
}

export const DEFAULT_TIMERS: Readonly<TimerConfig> = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

/**
 * A set of named timers owned by one transaction, all cleared at once when it ends. A
 * transaction holds two or three at a time: a short list searched by name costs less than
 * a Map per transaction (two per relayed request: docs/performance.md, SBC session 5).
 */
export class TimerSet {
  private readonly names: string[] = [];
  private readonly handles: NodeJS.Timeout[] = [];

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const h = setTimeout(() => {
      this.#forget(h);
      fn();
    }, ms);
    h.unref?.();
    this.names.push(name);
    this.handles.push(h);
  }

  stop(name: string): void {
    const i = this.names.indexOf(name);
    if (i < 0) return;
    clearTimeout(this.handles[i]);
    this.#remove(i);
  }

  clear(): void {
    for (const h of this.handles) clearTimeout(h);
    this.names.length = 0;
    this.handles.length = 0;
  }

  #forget(h: NodeJS.Timeout): void {
    const i = this.handles.indexOf(h);
    if (i >= 0) this.#remove(i);
  }

  #remove(i: number): void {
    const last = this.names.length - 1;
    this.names[i] = this.names[last]!;
    this.handles[i] = this.handles[last]!;
    this.names.length = last;
    this.handles.length = last;
  }
}
