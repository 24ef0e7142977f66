/**
 * Intrusion detection across instances (docs/ids.md): two engines, as two SBC
 * instances, share one real redis-server. The attacker spreads its flood,
 * its guesses and its scan over both so that each alone stays under the
 * thresholds; both block it. A block made at one is enforced at the other, an
 * unblock at one clears both, an instance that starts later enforces the
 * blocks in force, and with Redis killed each keeps detecting on its own.
 * A legitimate source is never touched. A hand clock drives the windows, and
 * the exchanges are run by the test (`sync()`), so nothing depends on timing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile } from '../../src/ids/load.js';
import { shippedRules } from '../../src/ids/service.js';
import { IdsSharing } from '../../src/ids/shared.js';
import type { IdsEvent, IdsOutcome } from '../../src/ids/types.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { redisIdsBackend } from '../../src/store/redis/ids-shared.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

const sip = (address: string, port: number, more: Partial<IdsEvent> = {}): IdsEvent => ({ protocol: 'sip', transport: 'udp', address, port, method: 'OPTIONS', ...more });
const failure = (address: string, port: number, identity: string): IdsOutcome => ({ kind: 'auth-failure', protocol: 'sip', transport: 'udp', address, port, identity, mechanism: 'digest', method: 'REGISTER' });
const success = (address: string, port: number, identity: string): IdsOutcome => ({ kind: 'auth-success', protocol: 'sip', transport: 'udp', address, port, identity, mechanism: 'digest', method: 'REGISTER' });

interface Instance {
  ids: IdsEngine;
  sharing: IdsSharing;
  redis: SharedRedis;
}

let server: TestRedis;
let t = 1_000_000_000;
let prefix = 0;
const open: Instance[] = [];

async function instance(keyPrefix: string): Promise<Instance> {
  const redis = connectRedis({ url: server.url, keyPrefix, commandTimeoutMs: 300 });
  expect(await redis.ready(5000)).toBe(true);
  // Exchanges are driven by the test; the timers are far off.
  const sharing = new IdsSharing(redisIdsBackend(redis), { syncMs: 3_600_000, reloadBlocksMs: 200, now: () => t });
  const ids = new IdsEngine({ rules: loadRuleFile(shippedRules()), now: () => t, sharing });
  const i = { ids, sharing, redis };
  open.push(i);
  // Subscribed and resynchronised before the attack starts.
  await vi.waitFor(() => expect(sharing.stats.resyncs).toBe(1), { timeout: 5000 });
  await subscribed(redis, keyPrefix);
  return i;
}

async function subscribed(redis: SharedRedis, keyPrefix: string): Promise<void> {
  await vi.waitFor(async () => {
    const n = (await redis.run((r) => r.call('PUBSUB', 'NUMSUB', `${keyPrefix}ids:blocks`))) as [string, number];
    expect(n[1]).toBeGreaterThanOrEqual(1);
  }, { timeout: 5000 });
}

async function pair(): Promise<[Instance, Instance, string]> {
  const p = `kst${++prefix}:`;
  const a = await instance(p);
  const b = await instance(p);
  await vi.waitFor(async () => {
    const n = (await a.redis.run((r) => r.call('PUBSUB', 'NUMSUB', `${p}ids:blocks`))) as [string, number];
    expect(n[1]).toBe(2);
  }, { timeout: 5000 });
  return [a, b, p];
}

/** Two ticks of each instance's exchange timer. */
async function exchange(a: Instance, b: Instance): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await a.sharing.sync();
    await b.sharing.sync();
  }
}

/** Two engines as today: no sharing (the control). */
function alone(): [IdsEngine, IdsEngine] {
  return [new IdsEngine({ rules: loadRuleFile(shippedRules()), now: () => t }), new IdsEngine({ rules: loadRuleFile(shippedRules()), now: () => t })];
}

describeRedis('intrusion detection shared by two instances through Redis', () => {
  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    for (const i of open.splice(0)) await i.sharing.close();
    t += 7_200_000;
  });
  afterAll(async () => {
    await server?.close();
  });

  /** The attacker's flood: 150 messages to each instance in one second, in rounds, the instances exchanging between rounds. */
  async function flood(a: IdsEngine, b: IdsEngine, sync: () => Promise<void>): Promise<void> {
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 15; k++) {
        a.inspect(sip('192.0.2.66', 5060));
        b.inspect(sip('192.0.2.66', 5060));
      }
      await sync();
    }
  }

  it('a flood split over two instances, each under "flood from a stranger" (200/s) alone, is blocked on both; a legitimate flow is not', async () => {
    // Control: without sharing, 150 at each is under the threshold at each.
    const [ca, cb] = alone();
    await flood(ca, cb, async () => undefined);
    expect(ca.isBlocked('192.0.2.66', 5060) || cb.isBlocked('192.0.2.66', 5060)).toBe(false);

    const [a, b] = await pair();
    a.ids.outcome(success('198.51.100.7', 5070, 'alice@lab.example'));
    await flood(a.ids, b.ids, async () => {
      await exchange(a, b);
    });
    await vi.waitFor(() => {
      expect(a.ids.isBlocked('192.0.2.66', 5060)).toBe(true);
      expect(b.ids.isBlocked('192.0.2.66', 5060)).toBe(true);
    }, { timeout: 5000 });
    expect(a.ids.inspect(sip('192.0.2.66', 5060)).kind).toBe('drop');
    expect(b.ids.inspect(sip('192.0.2.66', 5060)).kind).toBe('drop');
    // The legitimate flow, and the attacker's address on another port (a NAT's other terminal), still pass on both.
    for (const e of [a.ids, b.ids]) {
      expect(e.inspect(sip('198.51.100.7', 5070, { method: 'REGISTER' })).kind).toBe('pass');
      expect(e.inspect(sip('192.0.2.66', 5061)).kind).toBe('pass');
    }
  });

  it('password guessing against one identity split over two instances (2 failures at A, 1 at B, threshold 3) blocks the identity on both; its owner still gets in', async () => {
    const guess = async (a: IdsEngine, b: IdsEngine, sync: () => Promise<void>) => {
      a.outcome(failure('203.0.113.10', 6000, 'bob@lab.example'));
      b.outcome(failure('203.0.113.20', 6000, 'bob@lab.example'));
      await sync();
      // The third guess, at A: two there, three in all.
      a.outcome(failure('203.0.113.30', 6000, 'bob@lab.example'));
    };
    const [ca, cb] = alone();
    await guess(ca, cb, async () => undefined);
    expect(ca.blocks().length + cb.blocks().length).toBe(0);

    const [a, b] = await pair();
    // Bob authenticated from his own phone at B earlier.
    b.ids.outcome(success('198.51.100.8', 5080, 'bob@lab.example'));
    await guess(a.ids, b.ids, async () => {
      await exchange(a, b);
    });
    await vi.waitFor(() => {
      for (const e of [a.ids, b.ids]) expect(e.blocks().map((x) => x.target)).toContain('id:bob@lab.example');
    }, { timeout: 5000 });
    for (const e of [a.ids, b.ids]) expect(e.inspect(sip('203.0.113.99', 6000, { method: 'REGISTER', identity: 'bob@lab.example' })).kind).toBe('drop');
    // Bob's own phone, where he authenticated (B), still gets through there.
    expect(b.ids.inspect(sip('198.51.100.8', 5080, { method: 'REGISTER', identity: 'bob@lab.example' })).kind).toBe('pass');
  });

  it('an extension scan split over two instances (6 distinct identities at each, threshold 10) blocks the flow on both', async () => {
    const scan = async (a: IdsEngine, b: IdsEngine, sync: () => Promise<void>) => {
      for (let i = 0; i < 6; i++) {
        a.inspect(sip('192.0.2.77', 5060, { method: 'REGISTER', identity: `${100 + i}@lab.example` }));
        b.inspect(sip('192.0.2.77', 5060, { method: 'REGISTER', identity: `${200 + i}@lab.example` }));
        await sync();
      }
    };
    const [ca, cb] = alone();
    await scan(ca, cb, async () => undefined);
    expect(ca.isBlocked('192.0.2.77', 5060) || cb.isBlocked('192.0.2.77', 5060)).toBe(false);

    const [a, b] = await pair();
    await scan(a.ids, b.ids, async () => {
      await exchange(a, b);
    });
    a.ids.inspect(sip('192.0.2.77', 5060, { method: 'REGISTER', identity: '300@lab.example' }));
    await vi.waitFor(() => {
      expect(a.ids.isBlocked('192.0.2.77', 5060)).toBe(true);
      expect(b.ids.isBlocked('192.0.2.77', 5060)).toBe(true);
    }, { timeout: 5000 });
  });

  it('ordinary traffic is not shared: 100 flows of 10 messages leave no counter in Redis', async () => {
    const [a, b, p] = await pair();
    for (let f = 0; f < 100; f++) for (let i = 0; i < 10; i++) a.ids.inspect(sip('198.51.100.40', 20_000 + f));
    await exchange(a, b);
    expect(await a.redis.run((r) => r.keys(`${p}ids:*`))).toEqual([]);
  });

  it('a block made at A is enforced at B, a later instance loads it, and an unblock at B lifts it on all', async () => {
    const [a, b, p] = await pair();
    a.ids.block('192.0.2.88', 'address', 600, 'operator test');
    await vi.waitFor(() => expect(b.ids.isBlocked('192.0.2.88', 4000)).toBe(true), { timeout: 5000 });
    expect(b.ids.inspect(sip('192.0.2.88', 4000)).kind).toBe('drop');
    expect(b.ids.inspect(sip('192.0.2.89', 4000)).kind).toBe('pass');

    const c = await instance(p);
    expect(c.ids.isBlocked('192.0.2.88', 4000)).toBe(true);

    expect(b.ids.unblock('192.0.2.88')).toBe(true);
    await vi.waitFor(() => {
      expect(a.ids.isBlocked('192.0.2.88', 4000)).toBe(false);
      expect(c.ids.isBlocked('192.0.2.88', 4000)).toBe(false);
    }, { timeout: 5000 });
    expect(await b.redis.run((r) => r.exists('ids:b:192.0.2.88'))).toBe(0);
    // Nobody reads it back: the periodic reload does not resurrect it.
    await new Promise((r) => setTimeout(r, 500));
    expect(a.ids.isBlocked('192.0.2.88', 4000)).toBe(false);
  });

  it('an unblock also clears the shared evidence: the flow is not blocked again by its next message', async () => {
    const [a, b] = await pair();
    await flood(a.ids, b.ids, async () => {
      await exchange(a, b);
    });
    await vi.waitFor(() => expect(b.ids.isBlocked('192.0.2.66', 5060)).toBe(true), { timeout: 5000 });
    a.ids.unblock('192.0.2.66:5060');
    await vi.waitFor(() => expect(b.ids.isBlocked('192.0.2.66', 5060)).toBe(false), { timeout: 5000 });
    // 30 more at each (enough to be shared again, 60 in all): judged on the new count, not the old one.
    for (let i = 0; i < 30; i++) {
      expect(a.ids.inspect(sip('192.0.2.66', 5060)).kind).toBe('pass');
      expect(b.ids.inspect(sip('192.0.2.66', 5060)).kind).toBe('pass');
    }
    await exchange(a, b);
    expect(a.ids.inspect(sip('192.0.2.66', 5060)).kind).toBe('pass');
    expect(b.ids.inspect(sip('192.0.2.66', 5060)).kind).toBe('pass');
  });

  it('Redis killed: both keep detecting on their own without a crash or an unhandled rejection, and resynchronise when it returns', async () => {
    const [a, b] = await pair();
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      await server.kill();
      await vi.waitFor(() => expect(a.redis.available || b.redis.available).toBe(false), { timeout: 5000 });
      // A flood at A alone, over the threshold: A blocks it locally.
      for (let i = 0; i < 250; i++) a.ids.inspect(sip('192.0.2.99', 5060));
      for (let i = 0; i < 250; i++) b.ids.inspect(sip('192.0.2.98', 5060));
      await exchange(a, b);
      expect(a.ids.isBlocked('192.0.2.99', 5060)).toBe(true);
      expect(b.ids.isBlocked('192.0.2.98', 5060)).toBe(true);
      expect(a.ids.inspect(sip('198.51.100.1', 5060)).kind).toBe('pass');

      await server.start();
      expect(await a.redis.ready(10_000)).toBe(true);
      expect(await b.redis.ready(10_000)).toBe(true);
      // Each writes its blocks back; each gets the other's.
      await vi.waitFor(() => {
        expect(b.ids.isBlocked('192.0.2.99', 5060)).toBe(true);
        expect(a.ids.isBlocked('192.0.2.98', 5060)).toBe(true);
      }, { timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 100));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});

describe('intrusion detection sharing: the local behaviour is the default', () => {
  it('an engine without sharing counts alone (no Redis needed)', () => {
    const [a] = alone();
    let first = -1;
    for (let i = 0; i < 250; i++) if (a.inspect(sip('192.0.2.10', 5060)).kind !== 'pass' && first < 0) first = i;
    expect(first).toBe(199);
  });
});
