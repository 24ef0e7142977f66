import { describe, expect, it } from 'vitest';
import { SeenNonces, SingleUseTable, tsWithin } from '../../src/flow/index.js';

const b = (n: number) => Buffer.alloc(16, n);

describe('replay tables', () => {
  it('TS window is ± the configured seconds', () => {
    const now = 1_000_000_500;
    expect(tsWithin(now, 1_000_000 - 30, 30)).toBe(true);
    expect(tsWithin(now, 1_000_000 + 30, 30)).toBe(true);
    expect(tsWithin(now, 1_000_000 - 31, 30)).toBe(false);
    expect(tsWithin(now, 1_000_000 + 31, 30)).toBe(false);
    expect(tsWithin(now, 1_000_000.5, 30)).toBe(false);
  });

  it('SeenNonces remembers a nonce until its expiry and refuses to grow past its bound', () => {
    const s = new SeenNonces(2);
    expect(s.check(b(1), 100, 0)).toBe('fresh');
    expect(s.check(b(1), 100, 50)).toBe('seen');
    expect(s.check(b(2), 100, 50)).toBe('fresh');
    expect(s.check(b(3), 100, 50)).toBe('full'); // both still live
    expect(s.check(b(1), 200, 100)).toBe('fresh'); // expired: forgotten, and room made
    expect(s.check(b(3), 200, 100)).toBe('fresh');
    expect(s.size).toBe(2);
  });

  it('a full table sweeps expired entries that are not at the front', () => {
    const s = new SeenNonces(3);
    s.check(b(1), 10_000, 0);
    s.check(b(2), 10, 0);
    s.check(b(3), 10, 0);
    expect(s.check(b(4), 10_000, 2000)).toBe('fresh');
    expect(s.size).toBe(2);
  });

  it('expired entries at the front go in one prune, at most every 100 ms, and are never trusted meanwhile', () => {
    const t = new SeenNonces(1000);
    for (let i = 0; i < 10; i++) expect(t.check(b(i), 100, 0)).toBe('fresh');
    // due at 200: every expired entry goes at once (it was four per insert, each insert walking from the front)
    expect(t.check(b(20), 10_000, 200)).toBe('fresh');
    expect(t.size).toBe(1);
    for (let i = 30; i < 35; i++) expect(t.check(b(i), 250, 210)).toBe('fresh');
    expect(t.check(b(31), 10_000, 249)).toBe('seen');
    // 260: those five expired, the next prune is due at 300: still held, and fresh again all the same
    expect(t.check(b(40), 10_000, 260)).toBe('fresh');
    expect(t.size).toBe(7);
    expect(t.check(b(30), 10_000, 260)).toBe('fresh');
  });

  it('SingleUseTable gives an entry once and never after expiry', () => {
    const t = new SingleUseTable<{ v: string; expiresAt: number }>(10);
    expect(t.add(b(1), { v: 'a', expiresAt: 100 }, 0)).toBe(true);
    expect(t.add(b(1), { v: 'b', expiresAt: 100 }, 0)).toBe(false);
    expect(t.take(b(1), 50)?.v).toBe('a');
    expect(t.take(b(1), 50)).toBeUndefined();
    t.add(b(2), { v: 'c', expiresAt: 100 }, 0);
    expect(t.take(b(2), 100)).toBeUndefined();
    expect(t.size).toBe(0);
  });
});
