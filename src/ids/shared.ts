/**
 * Intrusion detection across instances (docs/ids.md, "Intrusion detection
 * across instances"): several SBCs (or the processes of `keyswitch up`) count
 * one attacker together and enforce each other's blocks.
 *
 * No round trip per message: the engine counts locally as always and notes
 * each counted match here (a number and a set entry). Every `syncMs` the
 * deltas of the counters touched go to the backend in one batch, which
 * returns everyone's totals for those counters; the next message of that
 * partner is judged on the larger of the local count and the shared one.
 * Shared windows are aligned (window = floor(t / interval)), so that every
 * instance adds to the same one; the estimate is the same weighted sliding
 * window as the local counter's.
 *
 * Blocks go out at once (one write and a publish) and come in as they are
 * published; a block or unblock from elsewhere is applied without being sent
 * back. When the backend is down the engine keeps working on its own; when it
 * returns, blocks are read again and this instance's live blocks written back.
 */
import type { BlockEntry } from './types.js';

/** One counter's share of the count: a rule for a partner, the same on every instance. */
export class SharedCount {
  /** The aligned window `pend` belongs to. */
  w = -1;
  /** Counted here and not yet sent, in window `w` and in the window before. */
  pend = 0;
  oldPend = 0;
  /** In flight: how many of `pend` (window `sentW`). */
  sent = 0;
  sentW = -1;
  /** Everyone's totals as last read: window `rW` and the one before it (scan: distinct identities in `rW`). */
  rW = -1;
  rCur = 0;
  rPrev = 0;
  /** scan: identities not sent yet, and how many were sent this window (bounded by `cap`). */
  ids: Set<string> | undefined;
  idsSent = 0;
  /** The exchange that last took it. */
  epoch = 0;

  constructor(
    readonly ref: string,
    readonly intervalMs: number,
    /** scan: the rule's number (identities beyond it are not sent); 0 for counts. */
    readonly cap: number,
  ) {}
}

/** One counter's news for the backend. */
export interface CounterFlush {
  ref: string;
  intervalMs: number;
  /** Aligned window index of `add` and of the totals wanted back. */
  window: number;
  add: number;
  /** Count left from the window before `window`. */
  prevAdd: number;
  /** scan: a distinct count (the totals are the size of the window's set of identities). */
  distinct: boolean;
  /** scan: identities to add to that set. */
  ids: string[] | undefined;
}

export interface CounterTotals {
  /** Everyone's count in `window` and in the window before (scan: `cur` is the distinct identities). */
  cur: number;
  prev: number;
}

/** A counter to forget (a flow that authenticated, a lifted block): its windows now and before. */
export interface CounterRef {
  ref: string;
  intervalMs: number;
}

export interface IdsSharedListener {
  block(e: BlockEntry): void;
  unblock(target: string): void;
  /** The backend became available (first connection or after an outage). */
  available(): void;
}

/** Where instances meet: Redis in production (src/store/redis/ids-shared.ts). */
export interface IdsSharedBackend {
  readonly available: boolean;
  /** Adds the deltas and returns everyone's totals, in the order given (one round trip). */
  flush(batch: readonly CounterFlush[], forget: readonly CounterRef[], now: number): Promise<CounterTotals[]>;
  /** Writes a block (the later end wins) and tells the other instances. */
  putBlock(e: BlockEntry, now: number): Promise<void>;
  /** Lifts blocks everywhere, with the counters named. */
  removeBlock(targets: readonly string[], counters: readonly CounterRef[], now: number): Promise<void>;
  /** The blocks in force (capped). */
  loadBlocks(now: number): Promise<BlockEntry[]>;
  listen(l: IdsSharedListener): void;
  close(): Promise<void>;
}

/** What the sharing needs of the engine. */
export interface IdsSharedPeer {
  /** A block from another instance (no listener told, nothing sent back). */
  applyBlock(e: BlockEntry): void;
  /** An unblock from another instance (nothing sent back). */
  applyUnblock(target: string): void;
  blocks(): BlockEntry[];
}

export interface IdsSharingOptions {
  /** How often counts are sent and totals read back (default 250 ms). */
  syncMs?: number;
  now?: () => number;
  /**
   * How often the blocks in force are read again (default 30 s): a block published while this
   * instance's subscription was down (a reconnection) still reaches it.
   */
  reloadBlocksMs?: number;
  /**
   * A counter is shared once it reaches this part of its rule's threshold at this instance
   * (default 1/8): ordinary traffic never costs a Redis command, and an attacker has to spread
   * over more than 1/shareFrom instances before any of them loses sight of it.
   */
  shareFrom?: number;
  /** Counters per exchange at most (default 1,000: some 3,000 commands in one pipeline, well within the command timeout). */
  maxBatch?: number;
  /** Counters waiting to be sent at most (beyond, the oldest news is dropped). */
  maxPending?: number;
  /** Told of each failed exchange (a log line, at most one a minute is the caller's business). */
  onError?: (what: string, err: unknown) => void;
}

const MAX_FORGET = 10_000;

export class IdsSharing {
  readonly #backend: IdsSharedBackend;
  readonly #now: () => number;
  readonly #syncMs: number;
  readonly #maxPending: number;
  readonly #onError: ((what: string, err: unknown) => void) | undefined;
  #dirty = new Set<SharedCount>();
  /** Counters shared in a window still current: their totals are read at every exchange, sent or not. */
  #watched = new Set<SharedCount>();
  readonly #shareFrom: number;
  #forget: CounterRef[] = [];
  #flying = false;
  #epoch = 0;
  readonly #maxBatch: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #reloader: ReturnType<typeof setInterval> | undefined;
  readonly #reloadMs: number;
  #peer: IdsSharedPeer | undefined;
  #closed = false;
  readonly stats = { flushes: 0, flushErrors: 0, blocksSent: 0, blocksReceived: 0, unblocksReceived: 0, blockErrors: 0, resyncs: 0, lastBatch: 0 };

  constructor(backend: IdsSharedBackend, o: IdsSharingOptions = {}) {
    this.#backend = backend;
    this.#now = o.now ?? Date.now;
    this.#syncMs = o.syncMs ?? 250;
    this.#maxPending = o.maxPending ?? 100_000;
    this.#onError = o.onError;
    this.#reloadMs = o.reloadBlocksMs ?? 30_000;
    this.#shareFrom = o.shareFrom ?? 1 / 8;
    this.#maxBatch = o.maxBatch ?? 1000;
  }

  /** The local count from which a counter of a rule with this threshold is shared. */
  threshold(ruleNumber: number): number {
    return Math.max(1, ruleNumber * this.#shareFrom);
  }

  get syncMs(): number {
    return this.#syncMs;
  }

  /** Starts exchanging for this engine (the engine calls it when given the sharing). */
  attach(peer: IdsSharedPeer): void {
    this.#peer = peer;
    this.#backend.listen({
      block: (e) => {
        this.stats.blocksReceived++;
        peer.applyBlock(e);
      },
      unblock: (target) => {
        this.stats.unblocksReceived++;
        peer.applyUnblock(target);
      },
      available: () => void this.resync(),
    });
    this.#timer = setInterval(() => void this.sync(), this.#syncMs);
    this.#timer.unref();
    this.#reloader = setInterval(() => void this.reloadBlocks(), this.#reloadMs);
    this.#reloader.unref();
    if (this.#backend.available) void this.resync();
  }

  counter(ref: string, intervalMs: number, cap: number): SharedCount {
    return new SharedCount(ref, intervalMs, cap);
  }

  /** Counted matches (one, or what was counted here before the counter was shared); returns everyone's windowed count as known now. */
  add(s: SharedCount, t: number, n = 1): number {
    const w = Math.floor(t / s.intervalMs);
    if (s.w !== w) this.#roll(s, w);
    s.pend += n;
    this.#touch(s);
    let cur = s.pend;
    let prev = s.oldPend;
    if (s.rW === w) {
      cur += s.rCur;
      prev += s.rPrev;
    } else if (s.rW === w - 1) prev += s.rCur;
    const overlap = 1 - (t - w * s.intervalMs) / s.intervalMs;
    return cur + prev * (overlap > 0 ? overlap : 0);
  }

  /** scan: one identity tried; returns the distinct identities everyone saw this window, as known now. */
  distinct(s: SharedCount, t: number, id: string): number {
    const w = Math.floor(t / s.intervalMs);
    if (s.w !== w) this.#roll(s, w);
    if (s.idsSent + (s.ids?.size ?? 0) <= s.cap) {
      s.ids ??= new Set();
      s.ids.add(id);
      this.#touch(s);
    }
    return s.rW === w ? s.rCur : 0;
  }

  /** Counters to clear everywhere at the next exchange (a flow that authenticated). */
  forget(refs: readonly CounterRef[]): void {
    if (this.#forget.length + refs.length > MAX_FORGET) return;
    for (const r of refs) this.#forget.push(r);
  }

  block(e: BlockEntry): void {
    if (this.#closed || !this.#backend.available) return; // written back at the resync
    this.stats.blocksSent++;
    this.#backend.putBlock(e, this.#now()).catch((err: unknown) => {
      this.stats.blockErrors++;
      this.#onError?.('block not shared (written back when the shared store returns)', err);
    });
  }

  unblock(targets: readonly string[], counters: readonly CounterRef[]): void {
    if (this.#closed) return;
    this.#backend.removeBlock(targets, counters, this.#now()).catch((err: unknown) => this.#onError?.('unblock not shared: lift it again once the shared store is back', err));
  }

  /** Sends the counts and reads the totals back (the timer calls it; tests too). */
  async sync(): Promise<void> {
    if (this.#flying || this.#closed || (this.#dirty.size === 0 && this.#watched.size === 0 && this.#forget.length === 0) || !this.#backend.available) return;
    const t = this.#now();
    const items: SharedCount[] = [];
    const batch: CounterFlush[] = [];
    const epoch = ++this.#epoch;
    const take = (s: SharedCount): void => {
      const ids = s.ids && s.ids.size > 0 ? [...s.ids] : undefined;
      s.ids = undefined;
      if (ids) s.idsSent += ids.length;
      batch.push({ ref: s.ref, intervalMs: s.intervalMs, window: s.w, add: s.pend, prevAdd: s.oldPend, distinct: s.cap > 0, ids });
      s.sent = s.pend;
      s.sentW = s.w;
      s.oldPend = 0;
      s.epoch = epoch;
      items.push(s);
    };
    // News first, then the totals of the other counters in watch; the rest waits for the next exchange.
    for (const s of this.#dirty) {
      if (batch.length >= this.#maxBatch) break;
      this.#dirty.delete(s);
      // News of windows already gone counts for nothing any more.
      if (s.w >= Math.floor(t / s.intervalMs) - 1) take(s);
    }
    for (const s of this.#watched) {
      if (s.w < Math.floor(t / s.intervalMs) - 1) {
        this.#watched.delete(s);
        continue;
      }
      if (batch.length >= this.#maxBatch) break;
      if (s.epoch === epoch) continue;
      take(s);
    }
    // Those read go to the back, so that a long watch list is read in turn.
    for (const s of items) {
      if (this.#watched.delete(s)) this.#watched.add(s);
    }
    this.stats.lastBatch = batch.length;
    const forget = this.#forget;
    this.#forget = [];
    this.#flying = true;
    try {
      const totals = await this.#backend.flush(batch, forget, t);
      this.stats.flushes++;
      for (let i = 0; i < items.length; i++) {
        const s = items[i]!;
        const r = totals[i];
        if (s.w === s.sentW) s.pend = Math.max(0, s.pend - s.sent);
        else if (s.w === s.sentW + 1) s.oldPend = Math.max(0, s.oldPend - s.sent);
        s.sent = 0;
        if (r && s.sentW >= s.rW) {
          s.rW = s.sentW;
          s.rCur = r.cur;
          s.rPrev = r.prev;
        }
      }
    } catch (err) {
      this.stats.flushErrors++;
      // Kept for the next exchange: the counts are not lost while the store is away.
      for (const s of items) {
        s.sent = 0;
        this.#touch(s);
      }
      this.#onError?.('counts not shared (kept for the next exchange)', err);
    } finally {
      this.#flying = false;
    }
  }

  /** Reads the blocks in force and writes this instance's back (start, and each return of the store). */
  async resync(): Promise<void> {
    const peer = this.#peer;
    if (!peer || this.#closed) return;
    try {
      const t = this.#now();
      for (const e of await this.#backend.loadBlocks(t)) peer.applyBlock(e);
      for (const e of peer.blocks()) if (e.until > t) await this.#backend.putBlock(e, t);
      this.stats.resyncs++;
    } catch (err) {
      this.#onError?.('blocks not resynchronised (retried when the shared store returns)', err);
    }
  }

  /** Reads the blocks in force and applies them. */
  async reloadBlocks(): Promise<void> {
    const peer = this.#peer;
    if (!peer || this.#closed || !this.#backend.available) return;
    try {
      for (const e of await this.#backend.loadBlocks(this.#now())) peer.applyBlock(e);
    } catch (err) {
      this.#onError?.('blocks not read', err);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#reloader) clearInterval(this.#reloader);
    await this.#backend.close();
  }

  #roll(s: SharedCount, w: number): void {
    s.oldPend = s.w === w - 1 ? s.pend : 0;
    s.pend = 0;
    s.w = w;
    s.ids = undefined;
    s.idsSent = 0;
  }

  #touch(s: SharedCount): void {
    if (!this.#watched.has(s) && this.#watched.size < this.#maxPending) this.#watched.add(s);
    if (this.#dirty.has(s)) return;
    if (this.#dirty.size >= this.#maxPending) {
      const first = this.#dirty.values().next().value;
      if (first) this.#dirty.delete(first);
    }
    this.#dirty.add(s);
  }
}
