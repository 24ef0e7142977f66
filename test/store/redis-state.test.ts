import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { ReportRefusedError } from '../../src/contracts/auc.js';
import { Registrar, DEFAULT_EXPIRES, type RegisterInput } from '../../src/softswitch/registrar.js';
import { LocationCache } from '../../src/softswitch/location-cache.js';
import { openStore, type Store } from '../../src/store/index.js';
import { RedisBindingRepo } from '../../src/store/redis/bindings.js';
import { RedisChallengeStore } from '../../src/store/redis/challenges.js';
import { connectRedis, isRedisUnavailable, type SharedRedis } from '../../src/store/redis/index.js';
import { describeEngines, makeContext } from '../helpers/engines.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { parseNameAddr } from '../../src/sip/index.js';

/** Two "instances": each its own connection (its own process in production) to one Redis. */
async function twoClients(url: string, prefix: string): Promise<[SharedRedis, SharedRedis]> {
  const a = connectRedis({ url, keyPrefix: prefix, commandTimeoutMs: 300 });
  const b = connectRedis({ url, keyPrefix: prefix, commandTimeoutMs: 300 });
  expect(await a.ready(5000)).toBe(true);
  expect(await b.ready(5000)).toBe(true);
  return [a, b];
}

describeRedis('state shared through Redis', () => {
  let server: TestRedis;
  let a: SharedRedis;
  let b: SharedRedis;
  let t = 1_700_000_000_000;
  const now = (): number => t;

  beforeAll(async () => {
    server = await startRedis();
    [a, b] = await twoClients(server.url, `t${randomBytes(3).toString('hex')}:`);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.close();
  });

  it('a Rand is consumed once across two AuC replicas, even when both try at once', async () => {
    const ca = new RedisChallengeStore(a, now);
    const cb = new RedisChallengeStore(b, now);
    const rand = randomBytes(16).toString('base64url');
    await ca.add({ rand, idc: 'alice@lab.example', idsp: 'sbc1', expiresAt: t + 30_000, requester: 'radius:192.0.2.1' });
    await expect(cb.add({ rand, idc: 'x', idsp: 'y', expiresAt: t + 30_000 })).rejects.toThrow(/duplicate/);
    expect(await cb.get(rand)).toMatchObject({ idc: 'alice@lab.example', idsp: 'sbc1', requester: 'radius:192.0.2.1', used: false, expiresAt: t + 30_000 });
    expect(await cb.consume(rand, 'alice@lab.example', 'other')).toBe(false);
    const both = await Promise.all([ca.consume(rand, 'alice@lab.example', 'sbc1'), cb.consume(rand, 'alice@lab.example', 'sbc1')]);
    expect(both.filter(Boolean)).toHaveLength(1);
    expect(await ca.consume(rand, 'alice@lab.example', 'sbc1')).toBe(false);
    expect(await ca.get(rand)).toMatchObject({ used: true });
    // expired by the AuC's clock before Redis's TTL runs out: refused
    const late = randomBytes(16).toString('base64url');
    await ca.add({ rand: late, idc: 'a', idsp: 's', expiresAt: t + 30_000 });
    t += 30_000;
    expect(await cb.consume(late, 'a', 's')).toBe(false);
  });

  it('Digest grants are per (IDc, requester), single-use across replicas, and expire', async () => {
    const ca = new RedisChallengeStore(a, now);
    const cb = new RedisChallengeStore(b, now);
    await ca.grantDigest('bob@lab.example', 'radius:192.0.2.1', t + 30_000);
    expect(await cb.consumeDigestGrant('bob@lab.example', 'radius:192.0.2.2')).toBe(false);
    expect(await cb.consumeDigestGrant('carol@lab.example', 'radius:192.0.2.1')).toBe(false);
    expect(await cb.consumeDigestGrant('bob@lab.example', 'radius:192.0.2.1')).toBe(true);
    expect(await ca.consumeDigestGrant('bob@lab.example', 'radius:192.0.2.1')).toBe(false);
    await ca.grantDigest('bob@lab.example', 'radius:192.0.2.1', t + 30_000);
    t += 30_000;
    expect(await cb.consumeDigestGrant('bob@lab.example', 'radius:192.0.2.1')).toBe(false);
  });

  const reg = (aor: string, contact: string, callId: string, cseq: number, expires = 3600): RegisterInput => ({
    aor,
    callId,
    cseq,
    contacts: [parseNameAddr(`<${contact}>`, 'Contact')],
    expires,
    source: 'udp:192.0.2.10:5060',
    idsp: 'sbc1.lab.example',
    mechanism: 'app-hmac',
  });
  const plan = (r: Registrar, i: RegisterInput) => {
    const p = r.plan(i);
    if (!p.ok) throw new Error('plan refused');
    return p.plan;
  };

  it('bindings written by registrar A are seen by registrar B; out-of-order refused at either, atomically', async () => {
    const ra = new Registrar(new RedisBindingRepo(a, now), DEFAULT_EXPIRES, now);
    const rb = new Registrar(new RedisBindingRepo(b, now), DEFAULT_EXPIRES, now);
    const aor = 'alice@lab.example';
    const r1 = await ra.apply(plan(ra, reg(aor, 'sip:alice@192.0.2.10:5060', 'c1', 5)));
    expect(r1.ok).toBe(true);
    expect((await rb.current(aor)).map((x) => [x.contact, x.cseq, x.idsp, x.mechanism])).toEqual([['sip:alice@192.0.2.10:5060', 5, 'sbc1.lab.example', 'app-hmac']]);
    // a REGISTER older than the one A took (same Call-ID, lower CSeq) reaching B: refused
    expect(await rb.apply(plan(rb, reg(aor, 'sip:alice@192.0.2.10:5060', 'c1', 4)))).toEqual({ ok: false, status: 500, reason: 'out-of-order' });
    // the same CSeq sent to both instances at once: one wins, the other is out of order
    const both = await Promise.all([
      ra.apply(plan(ra, reg(aor, 'sip:alice@192.0.2.10:5060', 'c1', 6))),
      rb.apply(plan(rb, reg(aor, 'sip:alice@192.0.2.10:5060', 'c1', 6))),
    ]);
    expect(both.filter((x) => x.ok)).toHaveLength(1);
    // many contacts of one AoR registered at once through both: none lost
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? ra : rb).apply(plan(ra, reg(aor, `sip:alice@192.0.2.${20 + i}:5060`, `k${i}`, 1)))));
    expect(await ra.current(aor)).toHaveLength(11);
    // B removes one; A sees it gone at once
    const rm = await rb.apply(plan(rb, reg(aor, 'sip:alice@192.0.2.20:5060', 'k0', 2, 0)));
    expect(rm.ok && rm.removed.map((x) => x.contact)).toEqual(['sip:alice@192.0.2.20:5060']);
    expect((await ra.current(aor)).some((x) => x.contact === 'sip:alice@192.0.2.20:5060')).toBe(false);
  });

  it('a REGISTER checked for order then applied reads the AoR once; a change by another instance in between is not lost', async () => {
    const ra = new Registrar(new RedisBindingRepo(a, now), DEFAULT_EXPIRES, now);
    const rb = new Registrar(new RedisBindingRepo(b, now), DEFAULT_EXPIRES, now);
    const aor = 'gina@lab.example';
    const scripts = async () => Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(String(await a.run((r) => r.info('commandstats'))))?.[1] ?? 0);
    const p1 = plan(ra, reg(aor, 'sip:gina@192.0.2.60:5060', 'g1', 1));
    const before = await scripts();
    expect(await ra.wouldBeOutOfOrder(p1)).toBe(false);
    expect((await ra.apply(p1)).ok).toBe(true);
    // one read and one commit (a read again for the commit would make three)
    expect((await scripts()) - before).toBe(2);

    // A reads, B adds a contact, A applies on what it read: its commit finds the version moved and reads again
    const p2 = plan(ra, reg(aor, 'sip:gina@192.0.2.60:5060', 'g1', 2));
    expect(await ra.wouldBeOutOfOrder(p2)).toBe(false);
    expect((await rb.apply(plan(rb, reg(aor, 'sip:gina@192.0.2.61:5060', 'h1', 1)))).ok).toBe(true);
    const r2 = await ra.apply(p2);
    expect(r2.ok && r2.live.map((x) => x.contact).sort()).toEqual(['sip:gina@192.0.2.60:5060', 'sip:gina@192.0.2.61:5060']);
    expect((await rb.current(aor)).find((x) => x.contact === 'sip:gina@192.0.2.60:5060')?.cseq).toBe(2);

    // a read older than a second is not used
    const p3 = plan(ra, reg(aor, 'sip:gina@192.0.2.60:5060', 'g1', 3));
    expect(await ra.wouldBeOutOfOrder(p3)).toBe(false);
    t += 1001;
    const mid = await scripts();
    expect((await ra.apply(p3)).ok).toBe(true);
    expect((await scripts()) - mid).toBe(2);
  });

  it("an instance's location cache serves a binding another instance removed for at most its TTL", async () => {
    const ra = new Registrar(new RedisBindingRepo(a, now), DEFAULT_EXPIRES, now);
    const cacheB = new LocationCache(new RedisBindingRepo(b, now), { ttlMs: 2000, now });
    const aor = 'frank@lab.example';
    await ra.apply(plan(ra, reg(aor, 'sip:frank@192.0.2.50:5060', 'f1', 1)));
    expect(await cacheB.lookup(aor)).toHaveLength(1);
    await ra.apply(plan(ra, reg(aor, 'sip:frank@192.0.2.50:5060', 'f1', 2, 0)));
    t += 1999;
    expect(await cacheB.lookup(aor)).toHaveLength(1);
    t += 1;
    expect(await cacheB.lookup(aor)).toEqual([]);
  });

  it('a binding expires: its key has a TTL, reads skip it, and the sweep reports it to one instance only', async () => {
    const la = new RedisBindingRepo(a, now);
    const lb = new RedisBindingRepo(b, now);
    const ra = new Registrar(la, DEFAULT_EXPIRES, now);
    const aor = 'dave@lab.example';
    await ra.apply(plan(ra, reg(aor, 'sip:dave@192.0.2.30:5060', 'd1', 1, 60)));
    const pttl = await a.run((r) => r.pttl(`loc:{${aor}}:c:sip:dave@192.0.2.30:5060`));
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    expect(await lb.count()).toBeGreaterThanOrEqual(1);
    t += 60_000;
    expect(await lb.current(aor)).toEqual([]);
    const [ga, gb] = await Promise.all([la.takeExpired(), lb.takeExpired()]);
    const gone = [...ga, ...gb].filter((x) => x.aor === aor);
    expect(gone.map((x) => [x.contact, x.idsp, x.mechanism])).toEqual([['sip:dave@192.0.2.30:5060', 'sbc1.lab.example', 'app-hmac']]);
    // a contact registered again before the sweep is not reported
    await ra.apply(plan(ra, reg(aor, 'sip:dave@192.0.2.30:5060', 'd2', 1, 60)));
    t += 60_000;
    await ra.apply(plan(ra, reg(aor, 'sip:dave@192.0.2.30:5060', 'd3', 1, 60)));
    expect((await la.takeExpired()).filter((x) => x.aor === aor)).toEqual([]);
    expect(await lb.current(aor)).toHaveLength(1);
  });

  it('Redis down: every operation fails as unavailable (nothing accepted unchecked), and works again when it returns', async () => {
    const c = new RedisChallengeStore(a, now);
    const l = new Registrar(new RedisBindingRepo(b, now), DEFAULT_EXPIRES, now);
    await server.kill();
    const errs = await Promise.all([
      c.consume('x', 'y', 'z').catch((e: unknown) => e),
      c.add({ rand: 'r', idc: 'i', idsp: 's', expiresAt: t + 1000 }).catch((e: unknown) => e),
      l.apply(plan(l, reg('erin@lab.example', 'sip:erin@192.0.2.40', 'e1', 1))).catch((e: unknown) => e),
      l.current('erin@lab.example').catch((e: unknown) => e),
    ]);
    for (const e of errs) expect(isRedisUnavailable(e)).toBe(true);
    await server.start();
    expect(await a.ready(10_000)).toBe(true);
    expect(await b.ready(10_000)).toBe(true);
    // an empty Redis after the restart: the scripts are loaded again
    expect((await l.apply(plan(l, reg('erin@lab.example', 'sip:erin@192.0.2.40', 'e1', 1)))).ok).toBe(true);
    const rand = randomBytes(16).toString('base64url');
    await c.add({ rand, idc: 'i', idsp: 's', expiresAt: t + 1000 });
    expect(await c.consume(rand, 'i', 's')).toBe(true);
  });
});

describeRedis('AuC replicas on one Redis and one database', () => {
  describeEngines('two AuC replicas', (ctx) => {
    let server: TestRedis;
    let s1: Store;
    let s2: Store;
    const t = 1_700_000_000_000;
    const kc = randomBytes(32);
    const idc = 'alice@lab.example';
    const idsp = 'sbc1.lab.example';

    beforeAll(async () => {
      server = await startRedis();
      const [a, b] = await twoClients(server.url, 'ks:');
      const opts = ctx.storeOptions({ now: () => t });
      s1 = await openStore({ ...opts, redis: a });
      s2 = await openStore({ ...opts, redis: b, migrate: false });
      await s1.terminals.create(idc, kc);
      await s1.proxies.create(idsp, randomBytes(32));
    });
    afterAll(async () => {
      await s1?.close();
      await s2?.close();
      await server?.close();
      await ctx.cleanup();
    });

    it('an s7 report replayed at the other replica is refused; the legitimate one is recorded once', async () => {
      const auc1 = new Auc(s1, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 10, maxSeconds: 25 } });
      const auc2 = new Auc(s2, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 10, maxSeconds: 25 } });
      const softswitch = 'radius:192.0.2.5';
      const v = await auc1.vector({ idc, idsp }, softswitch);
      if (!v.ok) throw new Error('expected a vector');
      const report = (ipc: string) => ({ idc, idsp, ipc, protocol: 'sip', contact: `<sip:alice@${ipc}:5060>`, mechanism: 'app-hmac', expiresAt: t + 3600_000, rand: v.vector.rand });
      // the s7 after the s1 lands on the other replica: accepted there
      await auc2.registered(report('192.0.2.10'), softswitch);
      // the attacker replays it at either replica: refused, nothing recorded
      await expect(auc1.registered(report('198.51.100.66'), softswitch)).rejects.toBeInstanceOf(ReportRefusedError);
      await expect(auc2.registered(report('198.51.100.66'), softswitch)).rejects.toBeInstanceOf(ReportRefusedError);
      expect((await s1.registrations.forTerminal(idc)).map((r) => r.ipc)).toEqual(['192.0.2.10']);
      // and a failure report on the used Rand counts nothing
      expect(await auc1.failed({ idc, idsp, rand: v.vector.rand }, softswitch)).toEqual({ locked: false });
      expect(await s2.failures.get(idc)).toBeUndefined();
      // another RADIUS client reporting someone else's fresh Rand is refused, and does not use it up
      const w = await auc2.vector({ idc, idsp }, softswitch);
      if (!w.ok) throw new Error('expected a vector');
      const other = { idc, idsp, ipc: '198.51.100.70', protocol: 'sip', contact: '<sip:alice@198.51.100.70:5060>', mechanism: 'app-hmac', expiresAt: t + 3600_000, rand: w.vector.rand };
      await expect(auc1.registered(other, 'radius:203.0.113.9')).rejects.toBeInstanceOf(ReportRefusedError);
      await expect(auc2.failed({ idc, idsp, rand: w.vector.rand }, 'radius:203.0.113.9')).rejects.toBeInstanceOf(ReportRefusedError);
      await auc1.registered({ ...other, ipc: '192.0.2.11', contact: '<sip:alice@192.0.2.11:5060>' }, softswitch);
      expect((await s2.registrations.forTerminal(idc)).map((r) => r.ipc).sort()).toEqual(['192.0.2.10', '192.0.2.11']);
    });
  });
});

// Without Redis the store is as before (memory challenges, database bindings).
it('without Redis the store keeps challenges in memory and bindings in the database', async () => {
  const ctx = makeContext('sqlite');
  const s = await ctx.open();
  try {
    expect(s.redis).toBeUndefined();
    expect(s.challenges.constructor.name).toBe('MemoryChallengeStore');
    expect(s.bindings.constructor.name).toBe('BindingRepo');
  } finally {
    await s.close();
    await ctx.cleanup();
  }
});
