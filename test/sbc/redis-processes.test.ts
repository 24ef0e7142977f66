/**
 * Two `keyswitch sbc` processes in front of one softswitch and one AuC,
 * sharing Redis and the database (docs/scale-out.md, "SBC state in Redis"):
 * a terminal registered through A sends through B under its app-hmac
 * session, a message accepted at B is refused at A, and the record Redis
 * holds has no key in clear.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signSipMessage, verifySipMessage } from '../../src/adapters/sip/sbc-app-hmac.js';
import { createRequest, newBranch, serialize } from '../../src/sip/index.js';
import { tcpExchange } from '../helpers/sip-tcp.js';
import { connectRedis } from '../../src/store/redis/index.js';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
import { newCallId, newTag } from '../../src/terminal/sip-uac.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, rolesStore } from '../helpers/engines.js';
import { upEnv } from '../helpers/ports.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

const IDC = 'roamer@lab.example';
const IDSP = 'sbc1.lab.example';

const exchange = tcpExchange;

function signedOptions(t: SipTerminal): Buffer {
  const req = createRequest('OPTIONS', 'sip:127.0.0.1', [
    ['Via', `SIP/2.0/TCP 127.0.0.1:5060;branch=${newBranch()}`],
    ['Max-Forwards', '70'],
    ['From', `<sip:${IDC}>;tag=${newTag()}`],
    ['To', `<sip:${IDC}>`],
    ['Call-ID', newCallId()],
    ['CSeq', '1 OPTIONS'],
  ]);
  signSipMessage(req, t.signer!);
  return serialize(req);
}

describeRedis('two SBC processes on one Redis', () => {
  describeEngines('spawned instances', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-redis-sbcs-'));
    const daemons: Daemon[] = [];
    let redis: TestRedis;
    let kc: Buffer;
    const sbcPorts: number[] = [];

    beforeAll(async () => {
      redis = await startRedis();
      const { dbUrl, masterKey, dataDir } = await rolesStore(ctx, dir);
      const a = await upEnv();
      const b = await upEnv();
      const sbcKey = randomBytes(32).toString('hex');
      const common: NodeJS.ProcessEnv = {
        ...a.env,
        KEYSWITCH_DB_URL: dbUrl,
        KEYSWITCH_MASTER_KEY: masterKey,
        KEYSWITCH_LOG_LEVEL: 'warn',
        KEYSWITCH_RADIUS_SECRET: randomBytes(16).toString('hex'),
        // these roles run apart reach the AuC over RADIUS, what this test reads (Diameter is the default)
        KEYSWITCH_AUC_PROTOCOL: 'radius',
        KEYSWITCH_CORE_LINK_KEY: randomBytes(32).toString('hex'),
        KEYSWITCH_SBC_KEY: sbcKey,
        KEYSWITCH_REDIS_URL: redis.url,
        KEYSWITCH_IDS: 'off',
      };
      const auc = { ...common, KEYSWITCH_DATA_DIR: dataDir('auc') };
      expect(ks(['--init', 'provision', 'proxy', IDSP, '--key', sbcKey], auc).code).toBe(0);
      const r = ks(['provision', 'terminal', IDC, '--json'], auc);
      expect(r.code, r.stderr).toBe(0);
      kc = Buffer.from(JSON.parse(r.stdout).key, 'hex');
      daemons.push((await startDaemon(['auc'], /AuC Diameter \(Cx\)/, auc)).daemon);
      daemons.push((await startDaemon(['softswitch'], /softswitch SIP/, { ...common, KEYSWITCH_DATA_DIR: dataDir('softswitch') })).daemon);
      daemons.push((await startDaemon(['sbc'], /SBC SIP/, { ...common, KEYSWITCH_DATA_DIR: dataDir('sbc-a') })).daemon);
      // B: its own listeners, the same softswitch, keys, database and Redis
      const envB: NodeJS.ProcessEnv = { ...common, KEYSWITCH_DATA_DIR: dataDir('sbc-b') };
      for (const k of ['KEYSWITCH_SBC_UDP_PORT', 'KEYSWITCH_SBC_TCP_PORT', 'KEYSWITCH_SBC_TLS_PORT', 'KEYSWITCH_SBC_TLS_PSK_PORT', 'KEYSWITCH_SBC_MGCP_PORT', 'KEYSWITCH_SBC_H248_PORT', 'KEYSWITCH_SBC_H323_PORT', 'KEYSWITCH_SBC_HEALTH']) envB[k] = b.env[k];
      daemons.push((await startDaemon(['sbc'], /SBC SIP/, envB)).daemon);
      sbcPorts.push(a.ports.sbcSip!, b.ports.sbcSip!);
    }, 120_000);
    afterAll(async () => {
      for (const d of daemons.reverse()) await d.stop();
      await redis?.close();
      rmSync(dir, { recursive: true, force: true });
      await ctx.cleanup();
    });

    it('registered through A, served by B, also after A is killed; what B accepted is refused at A; Redis holds the key sealed', async () => {
      const [atA, atB] = sbcPorts as [number, number];
      const t = new SipTerminal({ idc: IDC, kc, transport: 'tcp', mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: atA }, tls: { servername: IDSP } } as ConstructorParameters<typeof SipTerminal>[0]);
      try {
        await t.registerKs1();
        await t.applyMechanism();
        const m = signedOptions(t);
        const viaB = await exchange(atB, m);
        expect(viaB.status).toBe(200);
        expect(verifySipMessage(viaB, t.verifier!)).toBe('ok');
        const replayAtA = await exchange(atA, m);
        expect(replayAtA.status).toBe(403);
        expect(replayAtA.get('Warning')).toContain('KS-HMAC replayed');
        expect((await exchange(atA, signedOptions(t))).status).toBe(200);
        // A killed (-9): the terminal's next messages reach B, which serves them from Redis.
        const sbcA = daemons[2]!;
        daemons.splice(2, 1); // dead: nothing to stop afterwards
        sbcA.proc.kill('SIGKILL');
        await new Promise((r) => (sbcA.proc.exitCode !== null || sbcA.proc.signalCode !== null ? r(undefined) : sbcA.proc.once('exit', r)));
        for (let i = 0; i < 3; i++) {
          const res = await exchange(atB, signedOptions(t));
          expect(res.status).toBe(200);
          expect(verifySipMessage(res, t.verifier!)).toBe('ok');
        }
        const raw = connectRedis({ url: redis.url, keyPrefix: '' });
        try {
          expect(await raw.ready(5000)).toBe(true);
          const h = await raw.run((c) => c.hgetallBuffer(`ks:sbc:reg:{${IDSP}|${IDC}}`));
          expect(h.m?.toString()).toBe('app-hmac');
          expect(h.k?.toString()).toMatch(/^v\d+\./);
          const all = Buffer.concat(Object.values(h));
          // Kc,sp is not known to the test; Kc (the terminal's long-term key) must not be there either, in any form
          for (const form of [kc, Buffer.from(kc.toString('hex')), Buffer.from(kc.toString('base64'))]) expect(all.includes(form)).toBe(false);
        } finally {
          await raw.close();
        }
      } finally {
        await t.close();
      }
    });
  });
});
