/**
 * Two softswitch instances (and two AuC replicas) sharing one Redis and one
 * database, on both engines: a terminal may reach either instance at each step.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { createRequest, formatAuth, type SipResponse } from '../../src/sip/index.js';
import { startSoftswitch, type SoftswitchHandle } from '../../src/softswitch/run.js';
import { openStore, type Store } from '../../src/store/index.js';
import { connectRedis } from '../../src/store/redis/index.js';
import { describeEngines } from '../helpers/engines.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { ALICE, LINK_KEY, REALM, Registration, SBC_ADDR, SELF, SwitchableAuc, Ua } from './harness.js';

function h(alg: 'MD5' | 'SHA-256', s: string): string {
  return createHash(alg === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');
}

function answer(res: SipResponse, o: { username: string; password: string; uri: string; nc?: number; cnonce?: string }): string {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && a.params.algorithm === 'SHA-256');
  if (!ch) throw new Error('no SHA-256 challenge');
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'c' + Math.random().toString(36).slice(2);
  const ha1 = h('SHA-256', `${o.username}:${ch.params.realm}:${o.password}`);
  const response = h('SHA-256', `${ha1}:${ch.params.nonce}:${nc}:${cnonce}:auth:${h('SHA-256', `REGISTER:${o.uri}`)}`);
  return formatAuth('Digest', { username: o.username, realm: ch.params.realm!, nonce: ch.params.nonce!, uri: o.uri, response, algorithm: 'SHA-256', qop: 'auth', nc, cnonce, opaque: ch.params.opaque! }, ['algorithm', 'qop', 'nc']);
}

describeRedis('two softswitch instances on one Redis', () => {
  describeEngines('shared registrar and Digest', (ctx) => {
    let redis: TestRedis;
    const stores: Store[] = [];
    const aucs: SwitchableAuc[] = [];
    const ss: SoftswitchHandle[] = [];
    let phone: Ua;
    let attacker: Ua;
    /** An Authorization the attacker captured from the phone. */
    let captured: string | undefined;

    beforeAll(async () => {
      redis = await startRedis();
      const opts = ctx.storeOptions();
      for (let i = 0; i < 2; i++) {
        const shared = connectRedis({ url: redis.url, commandTimeoutMs: 300 });
        expect(await shared.ready(5000)).toBe(true);
        const store = await openStore({ ...opts, redis: shared, ...(i > 0 ? { migrate: false } : {}) });
        stores.push(store);
        if (i === 0) {
          await store.terminals.create(ALICE, randomBytes(32), 'alice secret');
          await store.proxies.create(SELF, randomBytes(32));
        }
        const auc = new SwitchableAuc(new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 30, maxSeconds: 300 } }));
        aucs.push(auc);
        ss.push(await startSoftswitch({
          sip: { host: '127.0.0.1', udpPort: 0 },
          trustedSbcs: [SBC_ADDR + '/32'],
          coreLinkKey: LINK_KEY,
          realm: REALM,
          aucTimeoutMs: 1000,
          auc,
          store,
        }));
      }
      phone = await Ua.udp();
      attacker = await Ua.udp();
    });
    afterAll(async () => {
      await phone?.close();
      await attacker?.close();
      for (const s of ss) await s.close();
      for (const s of stores) await s.close();
      await redis?.close();
      await ctx.cleanup();
    });

    it('a nonce issued by A is answered at B; the binding is seen by both; the replayed nonce-count is refused at either, without a failure', async () => {
      const atA = new Registration(phone, ss[0]!.ports.udp!, ALICE);
      const c = await atA.send();
      expect(c.status).toBe(401);
      const auth = answer(c, { username: ALICE, password: 'alice secret', uri: `sip:${REALM}` });
      captured = auth;
      const atB = new Registration(phone, ss[1]!.ports.udp!, ALICE);
      atB.callId = atA.callId;
      atB.cseq = atA.cseq;
      const ok = await atB.send({ headers: [['Authorization', auth]] });
      expect(ok.status).toBe(200);
      for (const s of stores) expect((await s.bindings.current(ALICE)).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.10:5060']);
      // the attacker captured that REGISTER and replays its Authorization (a new CSeq) at B, then at A
      const failedBefore = aucs[0]!.of('failed').length + aucs[1]!.of('failed').length;
      for (const i of [1, 0]) {
        const replay = new Registration(attacker, ss[i]!.ports.udp!, ALICE);
        replay.callId = atA.callId;
        replay.cseq = atB.cseq + 10 + i;
        const r = await replay.send({ contacts: ['<sip:alice@198.51.100.66:5060>'], headers: [['Authorization', auth]] });
        expect(r.status).toBe(401);
      }
      expect(aucs[0]!.of('failed').length + aucs[1]!.of('failed').length).toBe(failedBefore);
      expect((await stores[0]!.bindings.current(ALICE)).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.10:5060']);
      // the phone itself goes on with the next nonce-count, at A
      atA.cseq = atB.cseq;
      const next = await atA.send({ headers: [['Authorization', answer(c, { username: ALICE, password: 'alice secret', uri: `sip:${REALM}`, nc: 2 })]] });
      expect(next.status).toBe(200);
    });

    it('a REGISTER out of order at B after A took a newer one is refused', async () => {
      const atA = new Registration(phone, ss[0]!.ports.udp!, ALICE);
      const c = await atA.send();
      expect((await atA.send({ cseq: 20, headers: [['Authorization', answer(c, { username: ALICE, password: 'alice secret', uri: `sip:${REALM}` })]] })).status).toBe(200);
      const atB = new Registration(phone, ss[1]!.ports.udp!, ALICE);
      atB.callId = atA.callId;
      const c2 = await atB.send({ cseq: 5 });
      const old = await atB.send({ cseq: 5, expires: 0, headers: [['Authorization', answer(c2, { username: ALICE, password: 'alice secret', uri: `sip:${REALM}` })]] });
      expect(old.status).toBe(500);
      expect(await stores[1]!.bindings.current(ALICE)).toHaveLength(1);
    });

    it('Redis killed: 503 with Retry-After, nothing accepted; registrations work again once it is back', async () => {
      const atB = new Registration(phone, ss[1]!.ports.udp!, ALICE);
      const c = await atB.send();
      expect(c.status).toBe(401);
      await redis.kill();
      const down = await atB.send({ headers: [['Authorization', answer(c, { username: ALICE, password: 'alice secret', uri: `sip:${REALM}` })]] });
      expect(down.status).toBe(503);
      expect(Number(down.get('Retry-After'))).toBeGreaterThan(0);
      // a new call from a trusted SBC: the location cannot be read, so 503 with Retry-After (not 404/480, not 500)
      const sbc = await Ua.udp(SBC_ADDR);
      try {
        const invite = createRequest('INVITE', `sip:${ALICE}`, [
          ['To', `<sip:${ALICE}>`],
          ['From', '<sip:bob@lab.example>;tag=b1'],
          ['Call-ID', 'redis-down-call'],
          ['CSeq', '1 INVITE'],
          ['Max-Forwards', '70'],
          ['Contact', '<sip:bob@192.0.2.20:5060>'],
          ['P-Asserted-Identity', '<sip:bob@lab.example>'],
          ['P-KS-Auth', 'mechanism=app-hmac'],
        ]);
        const res = await sbc.stack.send(invite, { destination: { address: '127.0.0.1', port: ss[1]!.ports.udp!, protocol: 'udp' } });
        expect(res.status).toBe(503);
        expect(Number(res.get('Retry-After'))).toBeGreaterThan(0);
      } finally {
        await sbc.close();
      }
      await redis.start();
      for (const s of stores) expect(await s.redis!.ready(10_000)).toBe(true);
      // an empty Redis (no persistence in the test) forgot the used nonce-counts: a nonce issued before is stale, so the
      // attacker's replay of a response captured before the restart is refused, and so is the phone's late answer
      expect(captured).toBeDefined();
      const replay = new Registration(attacker, ss[1]!.ports.udp!, ALICE);
      replay.cseq = 1000;
      const r = await replay.send({ contacts: ['<sip:alice@198.51.100.66:5060>'], headers: [['Authorization', captured!]] });
      expect(r.status).toBe(401);
      expect(r.auth('WWW-Authenticate')[0]!.params.stale).toBe('true');
      expect(await stores[0]!.bindings.current(ALICE)).toEqual([]);
      // the phone registers again from scratch
      const c2 = await atB.send();
      const up = await atB.send({ headers: [['Authorization', answer(c2, { username: ALICE, password: 'alice secret', uri: `sip:${REALM}` })]] });
      expect(up.status).toBe(200);
      expect((await stores[0]!.bindings.current(ALICE)).length).toBe(1);
    });
  });
});
