import { describe, expect, it } from 'vitest';
import { DuplicateCache } from '../../src/radius/duplicate-cache.js';

describe('RADIUS duplicate cache', () => {
  it('keeps an answer in memory of its own, not a slice that pins a shared pool block', () => {
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
    expect(kept.buffer.byteLength).toBe(62);
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
});
