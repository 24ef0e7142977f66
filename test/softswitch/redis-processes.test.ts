/**
 * Two `keyswitch softswitch` processes and one `keyswitch auc`, on one Redis
 * and one database: a Digest phone challenged by one instance registers at
 * the other, its binding is seen by both, and a replayed answer is refused at
 * either (docs/scale-out.md, "Softswitch and AuC state in Redis").
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { formatAuth, type SipResponse } from '../../src/sip/index.js';
import { connectRedis } from '../../src/store/redis/index.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, rolesStore } from '../helpers/engines.js';
import { upEnv } from '../helpers/ports.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { Registration, Ua } from './harness.js';

const AOR = 'dora@lab.example';
const PASSWORD = 'dora pw 7';

function h(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function answer(res: SipResponse, o: { nc?: number } = {}): string {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && a.params.algorithm === 'SHA-256');
  if (!ch) throw new Error('no SHA-256 challenge');
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = 'c' + randomBytes(6).toString('hex');
  const uri = 'sip:lab.example';
  const response = h(`${h(`${AOR}:${ch.params.realm}:${PASSWORD}`)}:${ch.params.nonce}:${nc}:${cnonce}:auth:${h(`REGISTER:${uri}`)}`);
  return formatAuth('Digest', { username: AOR, realm: ch.params.realm!, nonce: ch.params.nonce!, uri, response, algorithm: 'SHA-256', qop: 'auth', nc, cnonce, opaque: ch.params.opaque! }, ['algorithm', 'qop', 'nc']);
}

describeRedis('two softswitch processes on one Redis', () => {
  describeEngines('spawned instances', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-redis-procs-'));
    const daemons: Daemon[] = [];
    let redis: TestRedis;
    const ports: number[] = [];
    let phone: Ua;
    let attacker: Ua;

    beforeAll(async () => {
      redis = await startRedis();
      const { dbUrl, masterKey, dataDir } = await rolesStore(ctx, dir);
      const a = await upEnv();
      const b = await upEnv();
      const common: NodeJS.ProcessEnv = {
        ...a.env,
        KEYSWITCH_DB_URL: dbUrl,
        KEYSWITCH_MASTER_KEY: masterKey,
        KEYSWITCH_LOG_LEVEL: 'warn',
        KEYSWITCH_RADIUS_SECRET: randomBytes(16).toString('hex'),
        // these roles run apart reach the AuC over RADIUS, what this test reads (Diameter is the default)
        KEYSWITCH_AUC_PROTOCOL: 'radius',
        KEYSWITCH_CORE_LINK_KEY: randomBytes(32).toString('hex'),
        KEYSWITCH_REDIS_URL: redis.url,
        // the AuC's silence (Redis down) becomes a 503 well within a client transaction's timeout
        KEYSWITCH_AUC_TIMEOUT_MS: '1000',
      };
      // the intrusion detection is not what this tests (its own suites do, with Redis)
      const auc = { ...common, KEYSWITCH_DATA_DIR: dataDir('auc'), KEYSWITCH_IDS: 'off' };
      const p = ks(['provision', 'terminal', AOR, '--sip-password', PASSWORD], auc);
      expect(p.code, p.stderr).toBe(0);
      daemons.push((await startDaemon(['auc'], /AuC Diameter \(Cx\)/, auc)).daemon);
      // B: its own SIP, MGCP, H.248, H.323 and health ports; the same AuC, database, Redis and keys
      const envB: NodeJS.ProcessEnv = { ...common };
      for (const k of ['KEYSWITCH_SOFTSWITCH_PORT', 'KEYSWITCH_SOFTSWITCH_MGCP_PORT', 'KEYSWITCH_SOFTSWITCH_H248_PORT', 'KEYSWITCH_SOFTSWITCH_H323_PORT', 'KEYSWITCH_SOFTSWITCH_HEALTH']) envB[k] = b.env[k];
      daemons.push((await startDaemon(['softswitch'], /softswitch SIP/, { ...common, KEYSWITCH_DATA_DIR: dataDir('softswitch-a') })).daemon);
      daemons.push((await startDaemon(['softswitch'], /softswitch SIP/, { ...envB, KEYSWITCH_DATA_DIR: dataDir('softswitch-b') })).daemon);
      ports.push(a.ports.ssSip!, b.ports.ssSip!);
      phone = await Ua.udp();
      attacker = await Ua.udp();
    });
    afterAll(async () => {
      await phone?.close();
      await attacker?.close();
      for (const d of daemons.reverse()) await d.stop();
      await redis?.close();
      rmSync(dir, { recursive: true, force: true });
      await ctx.cleanup();
    });

    it('challenged by A, registered at B; the binding is in the shared Redis; a replay is refused at A and at B', async () => {
      const atA = new Registration(phone, ports[0]!, AOR);
      const c = await atA.send();
      expect(c.status).toBe(401);
      const auth = answer(c);
      const atB = new Registration(phone, ports[1]!, AOR);
      atB.callId = atA.callId;
      atB.cseq = atA.cseq;
      const ok = await atB.send({ headers: [['Authorization', auth]] });
      expect(ok.status, ok.reason).toBe(200);
      expect(ok.getAll('Contact')).toEqual([expect.stringMatching(/^<sip:dora@192\.0\.2\.10:5060>;expires=/)]);
      const shared = connectRedis({ url: redis.url });
      try {
        expect(await shared.ready(5000)).toBe(true);
        expect(await shared.run((r) => r.smembers(`loc:{${AOR}}`))).toEqual(['sip:dora@192.0.2.10:5060']);
      } finally {
        await shared.close();
      }
      for (const port of ports) {
        const replay = new Registration(attacker, port, AOR);
        replay.callId = atA.callId;
        replay.cseq = 100 + port;
        const r = await replay.send({ contacts: ['<sip:dora@198.51.100.66:5060>'], headers: [['Authorization', auth]] });
        expect(r.status).toBe(401);
      }
      // a query at A (authenticated anew) lists only the phone's contact
      atA.cseq = 500;
      const q1 = await atA.send({ contacts: [] });
      const q2 = await atA.send({ contacts: [], headers: [['Authorization', answer(q1)]] });
      expect(q2.status).toBe(200);
      expect(q2.getAll('Contact')).toEqual([expect.stringMatching(/^<sip:dora@192\.0\.2\.10:5060>/)]);
    });

    it('Redis killed: the AuC cannot serve the RADIUS request, the softswitch answers 503 with Retry-After; service returns with Redis', async () => {
      const atB = new Registration(phone, ports[1]!, AOR);
      const c = await atB.send();
      expect(c.status).toBe(401);
      await redis.kill();
      const down = await atB.send({ headers: [['Authorization', answer(c)]] });
      expect(down.status).toBe(503);
      expect(Number(down.get('Retry-After'))).toBeGreaterThan(0);
      await redis.start();
      // the roles reconnect on their own (backing off to 1 s); then the phone registers again from scratch
      await vi.waitFor(async () => {
        const c2 = await atB.send();
        const r = await atB.send({ headers: [['Authorization', answer(c2)]] });
        expect(r.status).toBe(200);
      }, { timeout: 20_000, interval: 500 });
    });
  });
});
