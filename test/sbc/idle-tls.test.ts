/**
 * Completed TLS handshakes left idle (docs/security.md, "Connections"): a connection over
 * which no registration and no dialog was set up is closed after the idle time, a completed
 * handshake as much as a plain TCP one; a connection that carried a dialog stays past it and
 * still carries that dialog's BYE. Real SBC, real softswitch, real AuC over the embedded store,
 * the idle time set to 1 s.
 */
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSbc } from '../../src/sbc/run.js';
import { createTlsTransport } from '../../src/sip/transport/tls.js';
import { Phone, PASSWORDS } from '../softswitch/calls-phone.js';
import { answering as answerWhenRegistered } from './call-helpers.js';
import { startRealCore, type RealCore } from './real-core.js';
import { FAST, IDSP } from './setup.js';

const IDLE_MS = 1000;
const CALLEE = 'callee@lab.example';
const CALLER = 'tls-caller@lab.example';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(25)) if (Date.now() > end) throw new Error('timed out waiting');
}

describe('TLS connections left idle at the SBC', () => {
  let core: RealCore;
  let sbc: RunningSbc;
  let ca: string;
  let answering: Promise<number>;
  const tlsCounters = () => sbc.stats().transports[`tls:${sbc.ports.tls}`]!;

  beforeAll(async () => {
    core = await startRealCore({ name: 'idle-tls', connections: { idleMs: IDLE_MS } });
    ({ sbc, ca } = core);
    await core.store.terminals.create(CALLER, randomBytes(32), 'caller pw');
    PASSWORDS[CALLER] = 'caller pw';
    const kCallee = randomBytes(32);
    await core.store.terminals.create(CALLEE, kCallee, 'x');
    answering = (await answerWhenRegistered({
      transport: 'udp', sbc: { host: '127.0.0.1', port: sbc.ports.udp! }, timers: FAST,
      idc: CALLEE, kc: kCallee, mechs: 'app-hmac;q=0.5', calls: 1, timeoutSeconds: 30,
    })).done;
  });
  afterAll(async () => {
    await answering?.catch(() => undefined);
    await core?.close();
  });

  it('a completed handshake that sends nothing is closed after the idle time', async () => {
    const before = tlsCounters().idleClosed!;
    const sock = tls.connect({ host: '127.0.0.1', port: sbc.ports.tls!, ca, servername: IDSP });
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    await until(() => closed);
    expect(tlsCounters().idleClosed).toBe(before + 1);
  });

  it('a Digest phone\'s call over TLS keeps its connection past the idle time; a refused INVITE does not', async () => {
    const openPhone = async () => Phone.open(CALLER, { address: '127.0.0.1', port: sbc.ports.tls!, protocol: 'tls' }, '127.0.0.1', await createTlsTransport({ host: '127.0.0.1', client: { ca, servername: IDSP } }));

    // a connection whose only INVITE was answered 407: no dialog, so it is idle like any other
    const refused = await openPhone();
    try {
      const before = tlsCounters().idleClosed!;
      expect((await (await refused.invite(CALLEE, { auth: false })).final).status).toBe(407);
      await until(() => tlsCounters().idleClosed === before + 1);
    } finally {
      await refused.close();
    }

    const phone = await openPhone();
    try {
      const call = await phone.invite(CALLEE);
      const ok = await call.final;
      expect(ok.status).toBe(200);
      const dialog = await phone.ack(call.inv, ok);
      const { accepted, idleClosed } = tlsCounters();
      await sleep(3 * IDLE_MS);
      expect(tlsCounters().idleClosed).toBe(idleClosed);
      // the BYE goes over the same connection: the SBC accepted no new one for it
      expect((await phone.send(phone.inDialog(dialog, 'BYE'))).status).toBe(200);
      expect(tlsCounters().accepted).toBe(accepted);
      expect(await answering).toBe(0);
    } finally {
      await phone.close();
    }
  });
});
