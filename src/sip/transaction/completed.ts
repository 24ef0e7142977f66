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
     * The response as sent: `length` bytes at `offset` of `slab`, a block shared with the answers
     * completed around it (AnswerSlabs), rather than a string of its own for each of the tens of
     * thousands kept for Timer J.
     */
    readonly slab: Buffer,
    readonly offset: number,
    readonly length: number,
    readonly transport: SipTransport,
    readonly dest: Destination,
    readonly until: number,
  ) {}

  /** The response's bytes (a view on the slab: send it, do not keep it). */
  bytes(): Buffer {
    return this.slab.subarray(this.offset, this.offset + this.length);
  }
}

const SLAB_BYTES = 256 * 1024;
/** An answer larger than this gets a block of its own, so that a slab is not cut short. */
const SLAB_LARGEST = 16 * 1024;

/**
 * Where the completed answers' bytes are kept: written one after another into blocks of
 * SLAB_BYTES. The answers of a table all live as long and are added in order, so a block
 * is garbage once the last answer written into it has expired: nothing frees it but the GC.
 * Against a string per answer (up to session 13): a few hundred blocks instead of ~100,000
 * strings at 3,500 registrations/s, 4 % less memory over all processes and no CPU change
 * measured (docs/performance.md, "Completed answers in shared blocks (session 14)").
 */
class AnswerSlabs {
  #slab: Buffer = Buffer.alloc(0);
  #pos = 0;

  put(bytes: Buffer): { slab: Buffer; offset: number } {
    const n = bytes.length;
    if (n > SLAB_LARGEST) return { slab: Buffer.from(bytes), offset: 0 };
    if (this.#pos + n > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.#pos = 0;
    }
    const offset = this.#pos;
    bytes.copy(this.#slab, offset);
    this.#pos += n;
    return { slab: this.#slab, offset };
  }
}

/**
 * What both tables share: entries that live in the stack's own map of transactions (`shared`),
 * beside the live ones, kept in a queue in completion order (every entry of a table lives as
 * long, so that is expiry order) and swept from its head; only what is still a table's own
 * entry is removed from the shared map.
 */
abstract class CompletedTable<E extends { readonly key: string; readonly until: number }, T> {
  protected readonly shared: Map<string, T | E>;
  #queue: E[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(shared: Map<string, T | E>, protected readonly lifeMs: number, protected readonly now: () => number = performance.now.bind(performance)) {
    this.shared = shared;
  }

  /** Entries not yet swept (some may be past their time). */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** `e` replaces what the shared map holds under its key. */
  protected keep(e: E): void {
    this.shared.set(e.key, e);
    this.#queue.push(e);
    if (!this.#timer) this.#schedule();
  }

  /** Whether `e` is still within its time; one past it is removed from the shared map. */
  protected within(e: E): boolean {
    if (e.until > this.now()) return true;
    if (this.shared.get(e.key) === e) this.shared.delete(e.key);
    return false;
  }

  clear(): void {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const e = this.#queue[i]!;
      if (this.shared.get(e.key) === e) this.shared.delete(e.key);
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
      q[h++] = undefined as unknown as E;
      if (this.shared.get(e.key) === e) this.shared.delete(e.key);
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

/**
 * Server side: the final response, resent to the request's source on a retransmission. A new
 * request is then one lookup in the stack's map of server transactions, not a miss in each of
 * two maps (at 64,000 completed entries each miss is cache-cold).
 */
export class CompletedServers<T> extends CompletedTable<CompletedAnswer, T> {
  readonly #slabs = new AnswerSlabs();

  /** Stores the answer under `key`, replacing what the shared map holds there (the transaction that sent it). */
  add(key: string, bytes: Buffer, transport: SipTransport, dest: Destination): void {
    const { slab, offset } = this.#slabs.put(bytes);
    this.keep(new CompletedAnswer(key, slab, offset, bytes.length, transport, dest, this.now() + this.lifeMs));
  }

  /** Whether `v`, read from the shared map, is a stored answer still within its time (one past it is removed). */
  live(v: T | CompletedAnswer): v is CompletedAnswer {
    return v instanceof CompletedAnswer && this.within(v);
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
 * Client side: completed transactions whose retransmitted finals are absorbed (Timer K). A final
 * that completes a transaction is one update of its entry in the stack's map of client
 * transactions, not a delete in that map and an insert in a second one, and a response is one
 * lookup.
 */
export class CompletedClients<T> extends CompletedTable<CompletedClient, T> {
  /** `key`'s transaction completed: its entry in the shared map becomes this table's. */
  add(key: string): void {
    this.keep(new CompletedClient(key, this.now() + this.lifeMs));
  }

  /** Whether `v`, read from the shared map, is a completed transaction still within Timer K (one past it is removed). */
  live(v: T | CompletedClient): v is CompletedClient {
    return v instanceof CompletedClient && this.within(v);
  }

  has(key: string): boolean {
    const v = this.shared.get(key);
    return v !== undefined && this.live(v);
  }
}
