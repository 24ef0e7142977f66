import { describe, expect, it } from 'vitest';
import { dropOldest } from '../../src/lib/map-eviction.js';

const filled = (n: number, from = 0): Map<string, number> => new Map(Array.from({ length: n }, (_, i) => [`k${from + i}`, from + i]));

describe('dropOldest', () => {
  it('drops the first entries in insertion order and keeps the newest, in order', () => {
    const m = filled(32);
    expect(dropOldest(m, 2)).toBe(2);
    expect([...m.keys()]).toEqual([...filled(30, 2).keys()]);
  });

  it('calls the callback once per dropped entry, after it is gone, with its value and key', () => {
    const m = filled(20);
    const seen: [number, string, boolean][] = [];
    expect(dropOldest(m, 5, (v, k) => seen.push([v, k, m.has(k)]))).toBe(5);
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => [i, `k${i}`, false]));
    expect(m.size).toBe(15);
    expect(m.get('k5')).toBe(5);
  });

  it('drops nothing for a count of zero or less, and at most the whole map', () => {
    const m = filled(3);
    const calls: string[] = [];
    expect(dropOldest(m, 0, (_, k) => calls.push(k))).toBe(0);
    expect(dropOldest(m, -4)).toBe(0);
    expect(m.size).toBe(3);
    expect(dropOldest(m, 10, (_, k) => calls.push(k))).toBe(3);
    expect(calls).toEqual(['k0', 'k1', 'k2']);
    expect(m.size).toBe(0);
    expect(dropOldest(m, 1)).toBe(0);
  });

  it('works past holes: entries deleted in the middle and at the front, then re-inserted keys', () => {
    const m = filled(64);
    for (let i = 0; i < 64; i += 3) m.delete(`k${i}`); // holes everywhere, the first entry among them
    m.delete('k1');
    m.set('k1', 1); // re-inserted: now the newest
    const live = [...m.keys()];
    const gone: string[] = [];
    expect(dropOldest(m, 10, (_, k) => gone.push(k))).toBe(10);
    expect(gone).toEqual(live.slice(0, 10));
    expect([...m.keys()]).toEqual(live.slice(10));
    expect(m.has('k1')).toBe(true);
  });

  it('used as a bounded queue, keeps exactly the newest entries and drops each older one once', () => {
    const max = 64;
    const m = new Map<number, number>();
    const dropped = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      if (m.size >= max) dropOldest(m, max >>> 4, (v) => dropped.set(v, (dropped.get(v) ?? 0) + 1));
      m.set(i, i);
    }
    const kept = [...m.keys()];
    expect(kept.length).toBeLessThanOrEqual(max);
    expect(kept.length).toBeGreaterThan(max - (max >>> 4));
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 10_000 - kept.length + i));
    expect(dropped.size + kept.length).toBe(10_000);
    expect([...dropped.values()].every((n) => n === 1)).toBe(true);
  });
});
