/**
 * The H.235.1 key of a plain H.323 endpoint, K = SHA-1(password), from the
 * real AuC over RADIUS and over Diameter, both engines: the softswitch gets
 * K (hidden on RADIUS as HA1 is), never the password; refused identities
 * get their refusal, as for Digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { startDiameterAucServer } from '../../src/adapters/diameter/auc-server.js';
import { startRadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import type { AucService, DigestRequest } from '../../src/contracts/auc.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { RadiusAucClient } from '../../src/adapters/radius/auc-client.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines, type EngineContext } from '../helpers/engines.js';

const PASSWORD = 'h235-secret';
const k = (pw: string) => createHash('sha1').update(pw, 'utf8').digest('hex');
const ask = (idc: string): DigestRequest => ({ idc, username: idc, realm: 'sbc1.lab.example', algorithm: 'H235-SHA1' });

describeEngines('H.235.1 key from the AuC', (ctx: EngineContext) => {
  let store: Store;
  const closers: Array<() => Promise<unknown>> = [];
  const clients: Record<string, AucService> = {};
  const radiusIn: Buffer[] = [];

  beforeAll(async () => {
    store = await ctx.open();
    await store.terminals.create('plain@lab.example', randomBytes(32), PASSWORD);
    await store.terminals.create('nopw@lab.example', randomBytes(32));
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 5, windowSeconds: 300, baseSeconds: 60, maxSeconds: 3600 } });
    const secret = 'lab-secret-0123456789';
    const radius = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret, service: auc });
    closers.push(() => radius.close());
    // The client reaches the AuC through a relay that keeps what the AuC answers, to look for K in clear.
    const relay = createSocket('udp4');
    await new Promise<void>((r) => relay.bind(0, '127.0.0.1', r));
    let client: { port: number; address: string } | undefined;
    relay.on('message', (m, from) => {
      if (from.port === radius.authPort) {
        radiusIn.push(m);
        if (client) relay.send(m, client.port, client.address);
      } else {
        client = from;
        relay.send(m, radius.authPort, '127.0.0.1');
      }
    });
    closers.push(() => new Promise<void>((r) => relay.close(() => r())));
    const rc = new RadiusAucClient({ secret, servers: [{ host: '127.0.0.1', authPort: relay.address().port, acctPort: radius.acctPort }], timeoutMs: 500, totalTimeoutMs: 3000 });
    closers.push(() => rc.close());
    clients.radius = rc;
    const dia = await startDiameterAucServer({ host: '127.0.0.1', port: 0, originHost: 'auc1.lab.example', originRealm: 'lab.example', service: auc, peers: [{ originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] }] });
    closers.push(() => dia.close());
    const dc = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port: dia.port }], originHost: 'ss1.lab.example', originRealm: 'lab.example', destinationRealm: 'lab.example' });
    closers.push(() => dc.close());
    expect(await dc.ready(3000)).toBe(true);
    clients.diameter = dc;
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    await store?.close();
    await ctx.cleanup();
  });

  for (const wire of ['radius', 'diameter']) {
    it(`over ${wire}: K = SHA-1(password) for a provisioned password; the refusals of Digest otherwise`, async () => {
      expect(await clients[wire]!.digest(ask('plain@lab.example'))).toEqual({ ok: true, ha1: k(PASSWORD), failuresPending: false });
      expect(await clients[wire]!.digest(ask('nopw@lab.example'))).toMatchObject({ ok: false });
      expect(await clients[wire]!.digest(ask('nobody@lab.example'))).toMatchObject({ ok: false, reason: 'unknown-terminal' });
    });
  }

  it('RADIUS carries K hidden: neither K nor the password appears in what the AuC sent', () => {
    expect(radiusIn.length).toBeGreaterThanOrEqual(3);
    for (const m of radiusIn) {
      expect(m.includes(Buffer.from(k(PASSWORD)))).toBe(false);
      expect(m.includes(Buffer.from(k(PASSWORD), 'hex'))).toBe(false);
      expect(m.includes(Buffer.from(PASSWORD))).toBe(false);
    }
  });
});
