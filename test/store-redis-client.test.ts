import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { connectRedis, isRedisUnavailable, type SharedRedis } from '../src/store/redis/index.js';
import { describeRedis, startRedis, type TestRedis } from './helpers/redis.js';

describeRedis('shared Redis client', () => {
  let server: TestRedis;
  let shared: SharedRedis;
  const changes: boolean[] = [];

  beforeAll(async () => {
    server = await startRedis();
    shared = connectRedis({ url: server.url, keyPrefix: 'kst:', commandTimeoutMs: 300, onAvailability: (up) => changes.push(up) });
    expect(await shared.ready(5000)).toBe(true);
  });
  afterAll(async () => {
    await shared?.close();
    await server?.close();
  });

  it('prefixes every key it writes', async () => {
    await shared.run((r) => r.set('probe', 'v'));
    const raw = connectRedis({ url: server.url, keyPrefix: '' });
    try {
      expect(await raw.ready(5000)).toBe(true);
      expect(await raw.run((r) => r.get('kst:probe'))).toBe('v');
      expect(await raw.run((r) => r.get('probe'))).toBeNull();
    } finally {
      await raw.close();
    }
  });

  it('fails closed while Redis is down, with a Retry-After, and recovers when it returns', async () => {
    await server.kill();
    const err = await shared.run((r) => r.get('probe')).catch((e: unknown) => e);
    expect(isRedisUnavailable(err)).toBe(true);
    expect((err as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
    await vi.waitFor(() => expect(shared.available).toBe(false), { timeout: 5000 });
    await server.start();
    expect(await shared.ready(10_000)).toBe(true);
    await shared.run((r) => r.set('probe', 'again'));
    expect(await shared.run((r) => r.get('probe'))).toBe('again');
    expect(changes).toEqual([true, false, true]);
  });

  it('rethrows a command error as it is (not as unavailability)', async () => {
    await shared.run((r) => r.set('str', 'x'));
    const err = await shared.run((r) => r.hget('str', 'f')).catch((e: unknown) => e);
    expect(isRedisUnavailable(err)).toBe(false);
    expect(String(err)).toMatch(/WRONGTYPE/);
  });
});
