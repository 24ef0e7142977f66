import { describe, expect, it } from 'vitest';
import { DuplicateCache } from '../../src/radius/duplicate-cache.js';

describe('RADIUS duplicate cache', () => {
  it('keeps a copy of the answer, not a slice of a shared pool block that is reused', () => {
    const cache = new DuplicateCache(30_000);
    const request = Buffer.alloc(20, 1);
    const key = DuplicateCache.key('127.0.0.1', 1812, request);
    expect(cache.begin(key, 0)).toEqual({ kind: 'new' });
    const answer = Buffer.allocUnsafe(62).fill(0xab); // a slice of Node's 8 KiB pool
    expect(answer.buffer.byteLength).toBeGreaterThan(answer.length);
    cache.answered(key, answer, 0);
    answer.fill(0); // the pool's bytes reused by someone else
    const again = cache.begin(key, 1000);
    expect(again.kind).toBe('answered');
    const kept = (again as { response: Buffer }).response;
    expect(kept).toEqual(Buffer.alloc(62, 0xab));
  });

  it('gives back every byte value as it was answered', () => {
    const cache = new DuplicateCache(30_000);
    const key = DuplicateCache.key('127.0.0.1', 1812, Buffer.alloc(20, 3));
    cache.begin(key, 0);
    const answer = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
    cache.answered(key, answer, 0);
    expect(cache.begin(key, 5)).toEqual({ kind: 'answered', response: answer });
  });

  it('resends the same bytes within its lifetime and processes the request afresh after', () => {
    const cache = new DuplicateCache(30_000);
    const key = DuplicateCache.key('127.0.0.1', 1812, Buffer.alloc(20, 2));
    cache.begin(key, 0);
    expect(cache.begin(key, 10)).toEqual({ kind: 'in-progress' });
    cache.answered(key, Buffer.from('answer'), 10);
    expect(cache.begin(key, 30_000)).toEqual({ kind: 'answered', response: Buffer.from('answer') });
    expect(cache.begin(key, 30_011)).toEqual({ kind: 'new' });
  });

  it('never answers from an entry past its lifetime, swept or not yet', () => {
    const cache = new DuplicateCache(1_000);
    const a = DuplicateCache.key('127.0.0.1', 1812, Buffer.alloc(20, 4));
    const b = DuplicateCache.key('127.0.0.1', 1812, Buffer.alloc(20, 5));
    cache.begin(a, 0); // sweeps (the first request), then holds a
    cache.answered(a, Buffer.from('a'), 0);
    cache.begin(b, 999); // no sweep yet: a is still held, expired at 1,000
    cache.answered(b, Buffer.from('b'), 999);
    expect(cache.begin(a, 1_000)).toEqual({ kind: 'new' });
    expect(cache.begin(b, 1_500)).toEqual({ kind: 'answered', response: Buffer.from('b') });
  });

  it('at its cap drops the oldest down to 15/16 of it at once and keeps the newest', () => {
    const cache = new DuplicateCache(30_000, 64);
    const keys = Array.from({ length: 65 }, (_, i) => DuplicateCache.key('127.0.0.1', 1812, Buffer.alloc(20, i)));
    for (const k of keys) {
      cache.begin(k, 10);
      cache.answered(k, Buffer.from(k), 10);
    }
    // the 65th request found 64 held: the 5 oldest went, then it was added (60 = 15/16 of the cap)
    expect(cache.size).toBe(60);
    expect(cache.begin(keys[4]!, 20)).toEqual({ kind: 'new' });
    expect(cache.begin(keys[5]!, 20)).toEqual({ kind: 'answered', response: Buffer.from(keys[5]!) });
    expect(cache.begin(keys[64]!, 20)).toEqual({ kind: 'answered', response: Buffer.from(keys[64]!) });
  });
});
