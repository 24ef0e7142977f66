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

/** A completed server transaction's final response, kept for Timer J. */
export class CompletedAnswer {
  constructor(
    readonly key: string,
    /**
     * The response as sent, its bytes as a latin1 string (byte for byte): one heap object
     * with no pointers, where a Buffer of its own is an ArrayBuffer with a backing store that
     * every GC's array-buffer sweep visits, tens of thousands of them kept for Timer J.
     */
    readonly text: string,
    readonly transport: SipTransport,
    readonly dest: Destination,
    readonly until: number,
  ) {}
}

/**
 * Server side: the final response, resent to the request's source on a retransmission. The
 * entries live in the stack's own map of server transactions (`shared`), beside the live
 * ones: a new request is then one lookup, not a miss in each of two maps (at 64,000
 * completed entries each miss is cache-cold). The table keeps its entries in a queue in
 * completion order and removes from the shared map only what is still its own entry.
 */
export class CompletedServers<T> {
  readonly #shared: Map<string, T | CompletedAnswer>;
  #queue: CompletedAnswer[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(shared: Map<string, T | CompletedAnswer>, private readonly lifeMs: number, private readonly now: () => number = performance.now.bind(performance)) {
    this.#shared = shared;
  }

  /** Entries not yet swept (some may be past their time). */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** Stores the answer under `key`, replacing what the shared map holds there (the transaction that sent it). */
  add(key: string, bytes: Buffer, transport: SipTransport, dest: Destination): void {
    const e = new CompletedAnswer(key, bytes.toString('latin1'), transport, dest, this.now() + this.lifeMs);
    this.#shared.set(key, e);
    this.#queue.push(e);
    if (!this.#timer) this.#schedule();
  }

  /** Whether `v`, read from the shared map, is a stored answer still within its time (one past it is removed). */
  live(v: T | CompletedAnswer): v is CompletedAnswer {
    if (!(v instanceof CompletedAnswer)) return false;
    if (v.until > this.now()) return true;
    if (this.#shared.get(v.key) === v) this.#shared.delete(v.key);
    return false;
  }

  clear(): void {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const e = this.#queue[i]!;
      if (this.#shared.get(e.key) === e) this.#shared.delete(e.key);
    }
    this.#queue = [];
    this.#head = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const head = this.#queue[this.#head];
    if (!head) return;
    const t = setTimeout(() => this.#sweep(), Math.max(SWEEP_MS, head.until - this.now()));
    t.unref();
    this.#timer = t;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.now();
    const q = this.#queue;
    let h = this.#head;
    while (h < q.length && q[h]!.until <= now) {
      const e = q[h]!;
      q[h++] = undefined as unknown as CompletedAnswer;
      if (this.#shared.get(e.key) === e) this.#shared.delete(e.key);
    }
    if (h === q.length) {
      this.#queue = [];
      h = 0;
    } else if (h > 4096 && h * 2 > q.length) {
      this.#queue = q.slice(h);
      h = 0;
    }
    this.#head = h;
    this.#schedule();
  }
}

/** A completed non-INVITE client transaction's key, kept for Timer K. */
export class CompletedClient {
  constructor(
    readonly key: string,
    readonly until: number,
  ) {}
}

/**
 * Client side: completed transactions whose retransmitted finals are absorbed (Timer K). As on
 * the server side the entries replace the transactions in the stack's own map (`shared`): a
 * final that completes a transaction is one update of its entry there, not a delete in that
 * map and an insert in a second one, and a response is one lookup. Swept from a queue in
 * completion order; only what is still its own entry is removed from the shared map.
 */
export class CompletedClients<T> {
  readonly #shared: Map<string, T | CompletedClient>;
  #queue: CompletedClient[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(shared: Map<string, T | CompletedClient>, private readonly lifeMs: number, private readonly now: () => number = performance.now.bind(performance)) {
    this.#shared = shared;
  }

  /** Entries not yet swept (some may be past their time). */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** `key`'s transaction completed: its entry in the shared map becomes this table's. */
  add(key: string): void {
    const e = new CompletedClient(key, this.now() + this.lifeMs);
    this.#shared.set(key, e);
    this.#queue.push(e);
    if (!this.#timer) this.#schedule();
  }

  /** Whether `v`, read from the shared map, is a completed transaction still within Timer K (one past it is removed). */
  live(v: T | CompletedClient): v is CompletedClient {
    if (!(v instanceof CompletedClient)) return false;
    if (v.until > this.now()) return true;
    if (this.#shared.get(v.key) === v) this.#shared.delete(v.key);
    return false;
  }

  has(key: string): boolean {
    const v = this.#shared.get(key);
    return v !== undefined && this.live(v);
  }

  clear(): void {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const e = this.#queue[i]!;
      if (this.#shared.get(e.key) === e) this.#shared.delete(e.key);
    }
    this.#queue = [];
    this.#head = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const head = this.#queue[this.#head];
    if (!head) return;
    const t = setTimeout(() => this.#sweep(), Math.max(SWEEP_MS, head.until - this.now()));
    t.unref();
    this.#timer = t;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.now();
    const q = this.#queue;
    let h = this.#head;
    while (h < q.length && q[h]!.until <= now) {
      const e = q[h]!;
      q[h++] = undefined as unknown as CompletedClient;
      if (this.#shared.get(e.key) === e) this.#shared.delete(e.key);
    }
    if (h === q.length) {
      this.#queue = [];
      h = 0;
    } else if (h > 4096 && h * 2 > q.length) {
      this.#queue = q.slice(h);
      h = 0;
    }
    this.#head = h;
    this.#schedule();
  }
}
