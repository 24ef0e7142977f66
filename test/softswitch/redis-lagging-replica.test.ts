/**
 * Redis failed over to a replica that lagged (docs/scale-out.md, "Digest
 * across instances"): the replica never received the nonce-count a phone just
 * used, so the Digest answer an attacker captured must not be accepted once
 * the softswitches are on it. Real redis-server processes, each replica's link
 * through a forwarder that is cut to make it lag, and one address (a
 * forwarder, as a virtual address) that the failover moves, so the running
 * softswitches reconnect on their own.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import type { SipResponse } from '../../src/sip/index.js';
import { startSoftswitch, type SoftswitchHandle } from '../../src/softswitch/run.js';
import { openStore, type Store } from '../../src/store/index.js';
import { connectRedis } from '../../src/store/redis/index.js';
import { describeEngines, type EngineContext } from '../helpers/engines.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { tcpForward, type TcpForward } from '../helpers/tcp-forward.js';
import { digestAnswer } from './calls-phone.js';
import { ALICE, LINK_KEY, REALM, Registration, SBC_ADDR, SELF, sleep, SwitchableAuc, Ua } from './harness.js';

const PASSWORD = 'alice secret';
const URI = `sip:${REALM}`;
const PHONE_CONTACT = 'sip:alice@192.0.2.10:5060';

async function until(what: string, f: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await f().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`not within 10 s: ${what}`);
}

/** One redis-server, the test's own connection to it, and the forwarder its replication link goes through. */
interface Server {
  redis: TestRedis;
  view: Redis;
  link?: TcpForward;
}

async function server(): Promise<Server> {
  const redis = await startRedis();
  const view = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  view.on('error', () => undefined);
  await view.connect();
  return { redis, view };
}

const linkUp = async (s: Server): Promise<boolean> => String(await s.view.info('replication')).includes('master_link_status:up');

/** `s` follows `of` through a forwarder of its own, until the link is up. */
async function follow(s: Server, of: Server): Promise<void> {
  await s.link?.close();
  s.link = await tcpForward(of.redis.port);
  await s.view.call('REPLICAOF', '127.0.0.1', String(s.link.port));
  await until('the replica linked', () => linkUp(s));
}

/** Its link cut: it lags from now on. */
/** `s` holds everything `of` has written. (WAIT from another client than the writers' would not wait for their writes.) */
async function caughtUp(s: Server, of: Server): Promise<void> {
  const offset = async (v: Server, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(String(await v.view.info('replication')))?.[1]);
  const target = await offset(of, 'master_repl_offset');
  await until('the replica caught up', async () => (await offset(s, 'slave_repl_offset')) >= target);
}

async function lag(s: Server): Promise<void> {
  s.link!.cut();
  await until('the replica lagging', async () => !(await linkUp(s)));
}

const ncKey = (challenge: SipResponse): string => `ks:nc:${ALICE}\n${challenge.auth('WWW-Authenticate')[0]!.params.nonce}`;

/** Two softswitch instances (each with its AuC) on the Redis behind `vip`, and one database. */
async function softswitches(ctx: EngineContext, vip: TcpForward) {
  const stores: Store[] = [];
  const aucs: SwitchableAuc[] = [];
  const ss: SoftswitchHandle[] = [];
  const opts = ctx.storeOptions();
  for (let i = 0; i < 2; i++) {
    const shared = connectRedis({ url: `redis://127.0.0.1:${vip.port}`, commandTimeoutMs: 300 });
    expect(await shared.ready(5000)).toBe(true);
    const store = await openStore({ ...opts, redis: shared, ...(i > 0 ? { migrate: false } : {}) });
    stores.push(store);
    if (i === 0) {
      await store.terminals.create(ALICE, randomBytes(32), PASSWORD);
      await store.proxies.create(SELF, randomBytes(32));
    }
    const auc = new SwitchableAuc(new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 30, maxSeconds: 300 } }));
    aucs.push(auc);
    ss.push(await startSoftswitch({ sip: { host: '127.0.0.1', udpPort: 0 }, trustedSbcs: [SBC_ADDR + '/32'], coreLinkKey: LINK_KEY, realm: REALM, aucTimeoutMs: 1000, auc, store }));
  }
  return {
    stores,
    ss,
    failed: (): number => aucs[0]!.of('failed').length + aucs[1]!.of('failed').length,
    /** The operator promotes `to` and moves the address to it; true once both instances are connected there. */
    async failOver(to: Server): Promise<void> {
      expect(await to.view.call('REPLICAOF', 'NO', 'ONE')).toBe('OK');
      await to.link?.close();
      vip.to(to.redis.port);
      for (const s of stores) await until('a softswitch on the promoted replica', async () => String(await s.redis!.run((r) => r.call('CONFIG', 'GET', 'port'))) === `port,${to.redis.port}`);
    },
    async close() {
      for (const s of ss) await s.close();
      for (const s of stores) await s.close();
    },
  };
}

describeRedis('Redis failed over to a replica that lagged', () => {
  describeEngines('Digest nonce-counts', (ctx) => {
    /** Everything a scenario started, stopped whatever happens. */
    async function scenario(play: (o: { primary: Server; replica: Server; vip: TcpForward; sw: Awaited<ReturnType<typeof softswitches>>; phone: Ua; attacker: Ua }) => Promise<void>): Promise<void> {
      const servers: Server[] = [];
      const uas: Ua[] = [];
      let vip: TcpForward | undefined;
      let sw: Awaited<ReturnType<typeof softswitches>> | undefined;
      try {
        const primary = await server();
        servers.push(primary);
        const replica = await server();
        servers.push(replica);
        await follow(replica, primary);
        vip = await tcpForward(primary.redis.port);
        sw = await softswitches(ctx, vip);
        uas.push(await Ua.udp(), await Ua.udp());
        await play({ primary, replica, vip, sw, phone: uas[0]!, attacker: uas[1]! });
      } finally {
        for (const u of uas) await u.close();
        await sw?.close();
        await vip?.close();
        for (const s of servers) {
          s.view.disconnect();
          await s.link?.close();
          await s.redis.close();
        }
        await ctx.cleanup();
      }
    }

    /**
     * After the failover: the captured answer replayed from another socket at each instance, for the attacker's
     * Contact, is a new challenge with stale=true; bindings and failures unchanged; the phone registers again.
     */
    async function replayRefused(sw: Awaited<ReturnType<typeof softswitches>>, now: Server, captured: { auth: string; challenge: SipResponse; reg: Registration }, phone: Ua, attacker: Ua): Promise<void> {
      expect(await now.view.exists(ncKey(captured.challenge))).toBe(0);
      const before = (await sw.stores[0]!.bindings.current(ALICE)).map((b) => b.contact);
      const failedBefore = sw.failed();
      for (const i of [1, 0]) {
        const replay = new Registration(attacker, sw.ss[i]!.ports.udp!, ALICE);
        replay.callId = captured.reg.callId;
        replay.cseq = captured.reg.cseq + 10 + i;
        const r = await replay.send({ contacts: ['<sip:alice@198.51.100.66:5060>'], headers: [['Authorization', captured.auth]] });
        expect(r.status).toBe(401);
        expect(r.auth('WWW-Authenticate').map((a) => a.params.stale)).toContain('true');
      }
      for (const s of sw.stores) expect((await s.bindings.current(ALICE)).map((b) => b.contact)).toEqual(before);
      expect(await now.view.exists(ncKey(captured.challenge))).toBe(0);
      expect(sw.failed()).toBe(failedBefore);
      const again = new Registration(phone, sw.ss[1]!.ports.udp!, ALICE);
      const c = await again.send();
      expect(c.status).toBe(401);
      expect((await again.send({ headers: [['Authorization', digestAnswer(c, ALICE, PASSWORD, URI)]] })).status).toBe(200);
      expect(await now.view.exists(ncKey(c))).toBe(1);
      expect((await sw.stores[0]!.bindings.current(ALICE)).map((b) => b.contact)).toEqual([PHONE_CONTACT]);
      expect(sw.failed()).toBe(failedBefore);
    }

    /** The phone registers through the first instance; the attacker captures its answer. */
    async function register(sw: Awaited<ReturnType<typeof softswitches>>, reg: Registration): Promise<{ auth: string; challenge: SipResponse; reg: Registration }> {
      const challenge = await reg.send();
      const auth = digestAnswer(challenge, ALICE, PASSWORD, URI);
      expect((await reg.send({ headers: [['Authorization', auth]] })).status).toBe(200);
      expect((await sw.stores[0]!.bindings.current(ALICE)).map((b) => b.contact)).toEqual([PHONE_CONTACT]);
      return { auth, challenge, reg };
    }

    it('the primary dies after the replica lost its link: the answer whose nonce-count only the primary got, replayed after the failover, is 401 stale=true, nothing changed, no failure; the phone registers again', async () => {
      await scenario(async ({ primary, replica, sw, phone, attacker }) => {
        const reg = new Registration(phone, sw.ss[0]!.ports.udp!, ALICE);
        const first = await register(sw, reg);
        await caughtUp(replica, primary);
        expect(await replica.view.exists(ncKey(first.challenge))).toBe(1);
        await lag(replica);
        const captured = await register(sw, reg);
        expect(await primary.view.exists(ncKey(captured.challenge))).toBe(1);
        await primary.redis.kill();
        await sw.failOver(replica);
        await replayRefused(sw, replica, captured, phone, attacker);
      });
    }, 30_000);

    it('failed over and back to a server that had been the primary before (its run_id seen already) and lagged: the replay is 401 stale=true as well', async () => {
      await scenario(async ({ primary, replica, sw, phone, attacker }) => {
        // the instances recorded the primary's epoch when they started; it is replicated with the rest
        await until('the epoch recorded', async () => (await primary.view.keys('ks:nc:epoch:*')).length === 1);
        const reg = new Registration(phone, sw.ss[0]!.ports.udp!, ALICE);
        await register(sw, reg);
        await caughtUp(replica, primary);
        expect(await replica.view.keys('ks:nc:epoch:*')).toHaveLength(1);
        // a planned switch to the replica; the old primary follows it, then loses its link
        await sw.failOver(replica);
        await follow(primary, replica);
        await lag(primary);
        const captured = await register(sw, reg);
        expect(await replica.view.exists(ncKey(captured.challenge))).toBe(1);
        // the new primary dies: back to the old one
        await replica.redis.kill();
        await sw.failOver(primary);
        await replayRefused(sw, primary, captured, phone, attacker);
      });
    }, 30_000);
  });
});
