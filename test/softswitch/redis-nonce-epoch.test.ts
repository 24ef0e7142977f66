import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisNonceCounts } from '../../src/store/redis/nonce-counts.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * Digest nonces shared by softswitch instances are stale when they predate
 * the shared nonce-count table's epoch: the first connection of any instance
 * to the Redis server now serving. A softswitch started later accepts the
 * nonces others issued before it; a Redis that restarted empty makes them stale.
 */
describeRedis('the shared nonce-count epoch', () => {
  let server: TestRedis;
  const clients: SharedRedis[] = [];
  /** `connectedFirst`: the client is ready before the table is made, as a softswitch's store is. */
  const open = async (connectedFirst = false): Promise<RedisNonceCounts> => {
    const c = connectRedis({ url: server.url, commandTimeoutMs: 2000 });
    clients.push(c);
    if (connectedFirst) expect(await c.ready(5000)).toBe(true);
    const counts = new RedisNonceCounts(c);
    expect(await c.ready(5000)).toBe(true);
    await counts.current();
    return counts;
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await server?.close();
  });

  it('an instance started after a nonce was issued does not take it for stale; a Redis restarted empty does', async () => {
    const a = await open();
    await new Promise((r) => setTimeout(r, 20));
    const issued = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    const b = await open();
    const c = await open(true);
    expect(a.since).toBeLessThanOrEqual(issued);
    expect(b.since).toBe(a.since);
    expect(c.since).toBe(a.since);

    await server.kill();
    await server.start();
    for (const c of clients) expect(await c.ready(10_000)).toBe(true);
    await a.current();
    await b.current();
    expect(a.since).toBeGreaterThan(issued);
    expect(b.since).toBe(a.since);
    await c.current();
    expect(c.since).toBe(a.since);
  });
});
