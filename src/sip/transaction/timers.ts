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

/** A set of named timers owned by one transaction, all cleared at once when it ends. */
export class TimerSet {
  private readonly handles = new Map<string, NodeJS.Timeout>();

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const h = setTimeout(() => {
      this.handles.delete(name);
      fn();
    }, ms);
    h.unref?.();
    this.handles.set(name, h);
  }

  stop(name: string): void {
    const h = this.handles.get(name);
    if (h) {
      clearTimeout(h);
      this.handles.delete(name);
    }
  }

  clear(): void {
    for (const h of this.handles.values()) clearTimeout(h);
    this.handles.clear();
  }
}
