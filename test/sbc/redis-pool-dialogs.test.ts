/**
 * A dialog set up through instance A continues through instance B of the same
 * pool (docs/scale-out.md): B verifies A's route set with the pool key and
 * finds the dialog's party in the registrations shared on Redis — the party
 * never registered at B. What B accepted is refused as a replay at A.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signSipMessage } from '../../src/adapters/sip/sbc-app-hmac.js';
import { AppHmacSigner } from '../../src/crypto/app-hmac.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { makePoolCertificate } from '../../src/sbc/pool/certificate.js';
import { SigningPool } from '../../src/sbc/pool/pool.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { SessionTable } from '../../src/sbc/sessions.js';
import { parseMessage, serialize, type SipRequest } from '../../src/sip/index.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisSbcSessions } from '../../src/store/redis/sbc-sessions.js';
import { RedisSbcState } from '../../src/store/redis/sbc-state.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { inDialogRequest, startAttacker, type Attacker } from './attacker.js';
import { call, callee } from './call-helpers.js';
import { FAST, IDSP, startLab, type Lab } from './setup.js';

describeRedis('SBC pool on Redis: dialogs', () => {
  const material = makePoolCertificate();
  const vault = new KeyVault(randomBytes(32));
  let server: TestRedis;
  let lab: Lab;
  let b: RunningSbc;
  let sessionsA: SessionTable;
  let toA: Attacker;
  let toB: Attacker;
  const closers: Array<() => Promise<void>> = [];

  async function shared(): Promise<{ redis: SharedRedis; sessions: SessionTable }> {
    const redis = connectRedis({ url: server.url, keyPrefix: 'kst:', commandTimeoutMs: 300 });
    expect(await redis.ready(5000)).toBe(true);
    const sh = new RedisSbcSessions(redis, vault, IDSP);
    const sessions = new SessionTable();
    sessions.share(sh);
    closers.push(async () => {
      await sh.close();
      await redis.close();
    });
    return { redis, sessions };
  }

  beforeAll(async () => {
    server = await startRedis();
    const sa = await shared();
    sessionsA = sa.sessions;
    lab = await startLab({ route: true, sbc: { sessions: sa.sessions, replayState: new RedisSbcState(sa.redis, IDSP), signing: { pool: new SigningPool(material.cert, material.key) } } });
    const a = lab.sbc.ports;
    const aliases = [a.udp, a.tcp, a.tls, a.tlsPsk, a.core].map((p) => `127.0.0.1:${p}`);
    const sb = await shared();
    b = await startSbc({
      idsp: IDSP, ksp: lab.ksp, untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
      softswitch: { host: '127.0.0.1', port: lab.core.port }, tls: { dataDir: lab.dir }, timers: FAST,
      sessions: sb.sessions, replayState: new RedisSbcState(sb.redis, IDSP),
      signing: { pool: new SigningPool(material.cert, material.key), aliases },
    });
    toA = await startAttacker(lab.sbc.ports.udp!, '127.0.0.3');
    toB = await startAttacker(b.ports.udp!, '127.0.0.3');
  });
  afterAll(async () => {
    toA?.close();
    toB?.close();
    await b?.close();
    await lab?.close();
    for (const c of closers) await c();
    await server?.close();
  });

  it("an in-dialog request of a call set up through A, under the caller's app-hmac session made at A, is accepted at B; replayed at A it is refused", async () => {
    const bob = await callee(lab, 'bob@lab.example');
    const statuses: Array<number | undefined> = [];
    const warnings: Array<string | undefined> = [];
    const alice = await call(lab, 'alice@lab.example', 'bob@lab.example', {
      holdSeconds: 0.3,
      during: async ({ callId, dialog }) => {
        const o = { method: 'UPDATE', callId, from: 'alice@lab.example', to: 'bob@lab.example', dialog };
        // Unsigned, from another address: B reads the party from the route set (pool key) and refuses anyone else.
        const forged = await toB.ask(inDialogRequest(toB, o));
        statuses.push(forged?.status);
        warnings.push(forged?.get('Warning'));
        // Alice's own key (as her phone holds it; the test reads it from A's table), a sequence number ahead of her phone's.
        const kApp = sessionsA.get('alice@lab.example')!.session.keys.kAppHmac;
        const p = parseMessage(Buffer.from(inDialogRequest(toB, { ...o, cseq: 90 }).replace(/\r?\n/g, '\r\n')), { datagram: true });
        if (!p.ok) throw new Error('unparsable UPDATE');
        signSipMessage(p.message as SipRequest, new AppHmacSigner(kApp, 'uplink', 40));
        const bytes = serialize(p.message).toString('latin1');
        const atB = await toB.ask(bytes);
        statuses.push(atB?.status);
        // The same message sent to A (the instance that set the dialog up): already claimed at B.
        const atA = await toA.ask(bytes);
        statuses.push(atA?.status);
        warnings.push(atA?.get('Warning'));
      },
    });
    expect(statuses).toEqual([403, 200, 403]);
    expect(warnings[0]).toMatch(/not sent by the party of this dialog/);
    expect(lab.sbc.stats().calls.notParty).toBe(1); // A refused the replay as not proved by the party (its Warning names no more)
    expect(alice.code).toBe(0);
    expect(await bob.done).toBe(0);
    expect(bob.events.filter((e) => e.event === 'request')).toEqual([expect.objectContaining({ method: 'UPDATE' })]);
  });
});
