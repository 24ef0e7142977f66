/**
 * Redis behind Sentinel (`redis.sentinels`, docs/scale-out.md "Production:
 * Redis with a replica and Sentinel"): a primary, a replica and a Sentinel,
 * each a redis-server of its own. The primary is killed with -9: while
 * Sentinel fails over, the store says "unavailable" (the roles answer 503),
 * never accepts unchecked; after it, the client follows the new primary on
 * its own and what reached the replica is there.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Registrar, DEFAULT_EXPIRES, type RegisterInput } from '../../src/softswitch/registrar.js';
import { RedisBindingRepo } from '../../src/store/redis/bindings.js';
import { isRedisUnavailable, redisFromSettings, type SharedRedis } from '../../src/store/redis/index.js';
import { sentinelCredentials } from '../../src/store/redis/client.js';
import { describeRedis, startRedis, startSentinel, type TestRedis } from '../helpers/redis.js';
import { parseNameAddr } from '../../src/sip/index.js';

function reg(aor: string, contact: string, callId: string, cseq: number): RegisterInput {
  return { aor, callId, cseq, contacts: [parseNameAddr(`<${contact}>`, 'Contact')], expires: 600, source: 'udp:192.0.2.1:5060', idsp: 'sbc1.lab.example', mechanism: 'app-hmac' };
}

describeRedis('Redis behind Sentinel', () => {
  let primary: TestRedis;
  let replica: TestRedis;
  let sentinel: { port: number; close(): Promise<void> };
  let shared: SharedRedis;
  const seen: string[] = [];

  beforeAll(async () => {
    primary = await startRedis();
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    sentinel = await startSentinel({ primaryPort: primary.port });
    shared = redisFromSettings(
      { url: 'redis:///0', sentinels: [{ host: '127.0.0.1', port: sentinel.port }], sentinelName: 'keyswitch', keyPrefix: `s${randomBytes(3).toString('hex')}:`, commandTimeoutMs: 500 },
      (up, where, why) => seen.push(`${up ? 'up' : 'down'} ${where} ${why}`),
    )!;
    expect(await shared.ready(10_000)).toBe(true);
  }, 30_000);
  afterAll(async () => {
    await shared?.close();
    await sentinel?.close();
    await replica?.close();
    await primary?.close();
  });

  it('the primary killed: refused as unavailable during the failover, then served by the promoted replica with the replicated bindings', async () => {
    const registrar = new Registrar(new RedisBindingRepo(shared, Date.now), DEFAULT_EXPIRES, Date.now);
    const aor = 'sentinel@lab.example';
    const apply = (contact: string, callId: string, cseq: number) => {
      const p = registrar.plan(reg(aor, contact, callId, cseq));
      if (!p.ok) throw new Error(`plan: ${p.status}`);
      return registrar.apply(p.plan);
    };
    expect((await apply('sip:a@192.0.2.10:5060', 'c1', 1)).ok).toBe(true);
    // written on the primary and acknowledged by the replica before the primary dies
    let acked = 0;
    for (let i = 0; i < 50 && acked < 1; i++) acked = Number(await shared.run((r) => r.call('WAIT', 1, 200)));
    expect(acked).toBe(1);

    await primary.kill();
    const errors: unknown[] = [];
    let done: Awaited<ReturnType<typeof apply>> | undefined;
    for (let i = 0; i < 150 && !done; i++) {
      try {
        done = await apply('sip:a@192.0.2.11:5060', 'c2', 1);
      } catch (e) {
        errors.push(e);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(done, `no write in 30 s after the primary died: ${seen.join('; ')}`).toMatchObject({ ok: true });
    expect(errors.length, 'refused while Sentinel failed over').toBeGreaterThan(0);
    expect(errors.filter((e) => !isRedisUnavailable(e))).toEqual([]);
    // the replica is the primary now, and holds both bindings
    expect((await registrar.current(aor)).map((b) => b.contact).sort()).toEqual(['sip:a@192.0.2.10:5060', 'sip:a@192.0.2.11:5060']);
    expect(await shared.run((r) => r.call('CONFIG', 'GET', 'port'))).toEqual(['port', String(replica.port)]);
  }, 60_000);
});

it('beside Sentinels redis.url gives user, password and database, host optional; TLS and bad values are refused without showing the value', () => {
  expect(sentinelCredentials('')).toEqual({ db: 0 });
  expect(sentinelCredentials('redis://:s%40cret@/2')).toEqual({ password: 's@cret', db: 2 });
  expect(sentinelCredentials('redis://ks:pw@ignored:6379/0')).toEqual({ username: 'ks', password: 'pw', db: 0 });
  expect(() => sentinelCredentials('rediss://:pw@/0')).toThrow(/not supported with redis.sentinels/);
  for (const bad of ['redis://:topsecret@/x', 'http://:topsecret@h/0', 'redis://:%zz-topsecret@/0']) {
    let msg = '';
    try {
      sentinelCredentials(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/^redis\.url: /);
    expect(msg).not.toContain('topsecret');
  }
});
