/**
 * The insertion order of a Map's entries kept beside it, for a table that
 * must give up exactly its oldest entry at its bound (a party's state, where
 * cutting a slice at once would let a flood evict it sooner: map-eviction.ts
 * is for the others).
 *
 * Walking a Map from its head crosses the slots of every entry deleted since
 * it last rehashed, so `map.keys().next()` per insert at the bound walked up
 * to the whole table (docs/performance.md, "SBC and softswitch tables under
 * attack"). Here the order is two arrays read from a head index: an entry
 * deleted from the map by other means (a BYE, a sweep) stays in them until
 * the head passes it or a compaction drops it, and is recognised as gone
 * because the map no longer holds that value under its key. Each array slot
 * is passed once, and the arrays are rebuilt when more than half of what they
 * hold is dead: O(1) per insert, amortised.
 */
export class ArrivalOrder<K, V> {
  #keys: K[] = [];
  #values: V[] = [];
  #head = 0;

  constructor(private readonly map: Map<K, V>) {}

  /** Records an entry just added to the map (a new value: a value set again under its key is not recorded twice). */
  push(key: K, value: V): void {
    this.#keys.push(key);
    this.#values.push(value);
    if (this.#keys.length - this.#head > 2 * this.map.size + 1024) this.#compact();
  }

  /** The oldest entry still in the map, or undefined. */
  peek(): V | undefined {
    this.#skipGone();
    return this.#head < this.#keys.length ? this.#values[this.#head] : undefined;
  }

  /** Deletes the oldest entry still in the map from it; returns its value, or undefined if the map is empty. */
  shift(): V | undefined {
    this.#skipGone();
    if (this.#head >= this.#keys.length) return undefined;
    const key = this.#keys[this.#head]!;
    const value = this.#values[this.#head]!;
    this.#advance();
    this.map.delete(key);
    return value;
  }

  /** Entries recorded and not yet passed, deleted ones included: at most twice the map's size at the last push, + 1024. */
  get recorded(): number {
    return this.#keys.length - this.#head;
  }

  /** Forgets everything recorded (the map was cleared). */
  clear(): void {
    this.#keys = [];
    this.#values = [];
    this.#head = 0;
  }

  #skipGone(): void {
    while (this.#head < this.#keys.length && this.map.get(this.#keys[this.#head]!) !== this.#values[this.#head]) this.#advance();
  }

  #advance(): void {
    // Drop the references at once: a passed slot must not keep a value alive until the next compaction.
    this.#keys[this.#head] = undefined as K;
    this.#values[this.#head] = undefined as V;
    if (++this.#head >= 1024 && this.#head * 2 >= this.#keys.length) this.#compact();
  }

  #compact(): void {
    const keys: K[] = [];
    const values: V[] = [];
    for (let i = this.#head; i < this.#keys.length; i++) {
      const k = this.#keys[i]!;
      const v = this.#values[i]!;
      if (this.map.get(k) === v) {
        keys.push(k);
        values.push(v);
      }
    }
    this.#keys = keys;
    this.#values = values;
    this.#head = 0;
  }
}
