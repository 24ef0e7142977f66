/**
 * Making room in an insertion-ordered Map used as a bounded queue.
 *
 * A Map keeps a deleted entry's slot until it next rehashes, and every walk
 * from its start (`keys().next()`, `for … of`) crosses those holes. Dropping
 * one entry per insert at the bound therefore walked the holes of every entry
 * dropped before, up to the whole table per insert (tens of µs at 100,000+
 * entries, docs/performance.md, session 7). Callers drop a slice at once
 * instead, usually the oldest sixteenth, and then insert freely until the
 * bound is reached again.
 */

/**
 * Deletes the first `count` entries of `map` (its oldest, in insertion order) in one walk, calling
 * `onDrop` after each delete so the caller can undo what the entry held (a second index, a timer).
 * Fewer go if the map is smaller; none if `count` <= 0. Returns how many went.
 */
export function dropOldest<K, V>(map: Map<K, V>, count: number, onDrop?: (value: V, key: K) => void): number {
  let dropped = 0;
  if (count <= 0) return 0;
  if (onDrop === undefined) {
    for (const key of map.keys()) {
      map.delete(key);
      if (++dropped >= count) break;
    }
  } else {
    for (const [key, value] of map) {
      map.delete(key);
      onDrop(value, key);
      if (++dropped >= count) break;
    }
  }
  return dropped;
}
