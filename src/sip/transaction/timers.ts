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
 * transaction holds two or three at a time, so they sit in three fixed slots (a name and a
 * handle each), with a list only past that: two growing arrays per set cost a backing store
 * of 17 slots each, and a wrapper closure per timer started, for every transaction
 * (docs/performance.md, "SBC and SIP stack (session 9)"). A timer that fired keeps its slot
 * until it is started again, stopped or the set cleared (clearing a fired timer does nothing).
 */
export class TimerSet {
  #n0: string | undefined = undefined;
  #h0: NodeJS.Timeout | undefined = undefined;
  #n1: string | undefined = undefined;
  #h1: NodeJS.Timeout | undefined = undefined;
  #n2: string | undefined = undefined;
  #h2: NodeJS.Timeout | undefined = undefined;
  /** Timers past the three slots (no transaction uses more). */
  #more: Map<string, NodeJS.Timeout> | undefined = undefined;

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const h = setTimeout(fn, ms);
    h.unref?.();
    if (this.#n0 === undefined) {
      this.#n0 = name;
      this.#h0 = h;
    } else if (this.#n1 === undefined) {
      this.#n1 = name;
      this.#h1 = h;
    } else if (this.#n2 === undefined) {
      this.#n2 = name;
      this.#h2 = h;
    } else (this.#more ??= new Map()).set(name, h);
  }

  stop(name: string): void {
    if (this.#n0 === name) {
      clearTimeout(this.#h0);
      this.#n0 = this.#h0 = undefined;
    } else if (this.#n1 === name) {
      clearTimeout(this.#h1);
      this.#n1 = this.#h1 = undefined;
    } else if (this.#n2 === name) {
      clearTimeout(this.#h2);
      this.#n2 = this.#h2 = undefined;
    } else if (this.#more) {
      const h = this.#more.get(name);
      if (h === undefined) return;
      clearTimeout(h);
      this.#more.delete(name);
    }
  }

  clear(): void {
    if (this.#h0) clearTimeout(this.#h0);
    if (this.#h1) clearTimeout(this.#h1);
    if (this.#h2) clearTimeout(this.#h2);
    this.#n0 = this.#h0 = this.#n1 = this.#h1 = this.#n2 = this.#h2 = undefined;
    if (this.#more) for (const h of this.#more.values()) clearTimeout(h);
    this.#more = undefined;
  }

  /** Timers started and not stopped or cleared (fired ones included). */
  get size(): number {
    return (this.#n0 !== undefined ? 1 : 0) + (this.#n1 !== undefined ? 1 : 0) + (this.#n2 !== undefined ? 1 : 0) + (this.#more?.size ?? 0);
  }
}
