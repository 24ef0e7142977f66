/**
 * Completed non-INVITE transactions over UDP, kept only to absorb retransmissions: a server
 * transaction for Timer J (64·T1, answered with its final response's bytes), a client
 * transaction for Timer K (T4, a retransmitted final dropped). One table per kind with one
 * sweeping timer, instead of an object with its own timers, closures and callbacks per
 * transaction: at 1,000 registrations/s an SBC holds ~64,000 completed server transactions
 * for Timer J, and what each one kept alive was the GC's largest steady cost
 * (docs/performance.md, "SBC (session 6)").
 *
 * Every entry of a table lives as long and is added once, so insertion order is expiry order:
 * the sweep takes from the head of the Map. It runs at most once per `SWEEP_MS`; a lookup treats an entry
 * past its time as gone, so the sweep's lateness never lengthens a timer.
 */
import type { Destination, SipTransport } from '../transport/types.js';

const SWEEP_MS = 1000;

export interface CompletedAnswer {
  /**
   * The final response as sent, its bytes as a latin1 string (byte for byte): one heap object
   * with no pointers, where a Buffer of its own is an ArrayBuffer with a backing store that
   * every GC's array-buffer sweep visits, tens of thousands of them kept for Timer J.
   */
  readonly text: string;
  readonly transport: SipTransport;
  readonly dest: Destination;
  readonly until: number;
}

/** Server side: key → the final response, resent to the request's source on a retransmission. */
export class CompletedServers {
  readonly #entries = new Map<string, CompletedAnswer>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly lifeMs: number, private readonly now: () => number = performance.now.bind(performance)) {}

  get size(): number {
    return this.#entries.size;
  }

  /** `key` is new (a request whose key is here is absorbed, not made a transaction). */
  add(key: string, bytes: Buffer, transport: SipTransport, dest: Destination): void {
    this.#entries.set(key, { text: bytes.toString('latin1'), transport, dest, until: this.now() + this.lifeMs });
    if (!this.#timer) this.#schedule();
  }

  /** The stored answer for a retransmission, or undefined when none is live. */
  get(key: string): CompletedAnswer | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.until <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  clear(): void {
    this.#entries.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const head = this.#entries.values().next();
    if (head.done) return;
    const t = setTimeout(() => this.#sweep(), Math.max(SWEEP_MS, head.value.until - this.now()));
    t.unref();
    this.#timer = t;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.now();
    for (const [k, e] of this.#entries) {
      if (e.until > now) break;
      this.#entries.delete(k);
    }
    this.#schedule();
  }
}

/** Client side: keys of completed transactions whose retransmitted finals are absorbed (Timer K). */
export class CompletedClients {
  readonly #until = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly lifeMs: number, private readonly now: () => number = performance.now.bind(performance)) {}

  get size(): number {
    return this.#until.size;
  }

  /** `key` is new (a fresh branch). */
  add(key: string): void {
    this.#until.set(key, this.now() + this.lifeMs);
    if (!this.#timer) this.#schedule();
  }

  has(key: string): boolean {
    const u = this.#until.get(key);
    if (u === undefined) return false;
    if (u <= this.now()) {
      this.#until.delete(key);
      return false;
    }
    return true;
  }

  clear(): void {
    this.#until.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const head = this.#until.values().next();
    if (head.done) return;
    const t = setTimeout(() => this.#sweep(), Math.max(SWEEP_MS, head.value - this.now()));
    t.unref();
    this.#timer = t;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.now();
    for (const [k, u] of this.#until) {
      if (u > now) break;
      this.#until.delete(k);
    }
    this.#schedule();
  }
}
