/**
 * Batches that leave at the end of this turn of the event loop (setImmediate),
 * one per key: the MGCP and H.248 transports piggy-back the messages they make
 * for one peer in one turn into one datagram (one sendmsg, and one wake-up of
 * the peer, instead of one each).
 *
 * What a batch holds and its bounds are the caller's (a protocol's separator,
 * limits and what rides along differ); this is the bookkeeping both had
 * written: the open batch per key, one setImmediate per turn however many
 * keys, a batch sent ahead of the turn's end when the next item would take it
 * past its bounds, and everything open sent at close.
 */
export class EndOfTurnBatcher<B> {
  readonly #open = new Map<string, B>();
  #scheduled = false;
  readonly #send: (key: string, batch: B) => void;
  readonly #atTurnEnd = (): void => this.flush();

  /** `send` puts a batch on the wire; it must not add to this batcher. */
  constructor(send: (key: string, batch: B) => void) {
    this.#send = send;
  }

  /** The batch open for `key` in this turn, if any. */
  get(key: string): B | undefined {
    return this.#open.get(key);
  }

  /**
   * Opens `key`'s batch for this turn (none is open for it); the first one in a turn schedules the
   * flush. It returns nothing: H.248 after MGCP in one process cost ~0.5 µs more per transaction
   * when the transport took its batch back from here (bench/piggyback-loop.ts, docs/performance.md).
   */
  open(key: string, batch: B): void {
    this.#open.set(key, batch);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#atTurnEnd);
    }
  }

  /** Sends `key`'s open batch now: the next item would take it past its bounds. The next item opens a new one. */
  sendNow(key: string, batch: B): void {
    this.#open.delete(key);
    this.#send(key, batch);
  }

  /** Sends every open batch, in the order they were opened (the turn's end, or a close). */
  flush(): void {
    this.#scheduled = false;
    if (this.#open.size === 0) return;
    for (const [key, batch] of this.#open) this.#send(key, batch);
    this.#open.clear();
  }
}
