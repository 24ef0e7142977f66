/**
 * docs/security.md, "AuC peers": a registration report (s11) on a Rand whose
 * challenge expired, on the wire to the AuC's RADIUS and Diameter servers.
 * The AuC runs in this process on a store whose clock the test moves (no wall
 * clock); the softswitch's own client asks for the vector, the attacker
 * reports on it from a socket of its own with the softswitch's credentials.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { startDiameterAucServer, type DiameterAucServer } from '../../src/adapters/diameter/auc-server.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { sarRegistered } from '../../src/adapters/diameter/cx-auc.js';
import { registeredAttributes } from '../../src/adapters/radius/auc-attributes.js';
import { RadiusAucClient } from '../../src/adapters/radius/auc-client.js';
import { startRadiusAucServer, type RadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import type { AucService, RegistrationReport } from '../../src/contracts/auc.js';
import { f, unwrap } from '../../src/crypto/ks1.js';
import { encodeMessage, resultOf, RESULT } from '../../src/diameter/index.js';
import { encodePacket } from '../../src/radius/codec.js';
import { RadiusCode } from '../../src/radius/dictionary.js';
import type { Store } from '../../src/store/index.js';
import { cxRequest, rawPeer } from '../diameter/helpers.js';
import { describeEngines } from '../helpers/engines.js';
import { SECRET, sendRaw } from '../radius/setup.js';

const ALICE = 'alice@lab.example';
const IDSP = 'sbc1.lab.example';
const SS = 'ss1.lab.example';

describeEngines('a registration report on an expired Rand, on the wire to the AuC', (ctx) => {
  let t = 1_700_000_000_000;
  let store: Store;
  let radius: RadiusAucServer;
  let diameter: DiameterAucServer;
  let overRadius: RadiusAucClient;
  let overDiameter: DiameterAucClient;
  const kc = randomBytes(32);
  const ksp = randomBytes(32);
  const report = (rand: Buffer, ipc = '192.0.2.10'): RegistrationReport => ({ idc: ALICE, idsp: IDSP, ipc, protocol: 'sip', contact: `<sip:alice@${ipc}:5060>`, mechanism: 'app-hmac', expiresAt: t + 3600_000, rand });

  beforeAll(async () => {
    store = await ctx.open({ now: () => t });
    await store.terminals.create(ALICE, kc);
    await store.proxies.create(IDSP, ksp);
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 600, baseSeconds: 60, maxSeconds: 600 } });
    radius = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service: auc });
    diameter = await startDiameterAucServer({ host: '127.0.0.1', port: 0, originHost: 'auc1.lab.example', originRealm: 'lab.example', service: auc, peers: [{ originHost: SS, addresses: ['127.0.0.1'] }] });
    overRadius = new RadiusAucClient({ secret: SECRET, servers: [{ host: '127.0.0.1', authPort: radius.authPort, acctPort: radius.acctPort }], timeoutMs: 1000, retries: 0, totalTimeoutMs: 2000 });
    overDiameter = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port: diameter.port }], originHost: SS, originRealm: 'lab.example', destinationRealm: 'lab.example', timeoutMs: 1500 });
    expect(await overDiameter.ready(3000)).toBe(true);
  });
  afterAll(async () => {
    await overRadius?.close();
    await overDiameter?.close();
    await radius?.close();
    await diameter?.close();
    await store?.close();
    await ctx.cleanup();
  });

  /** A KS1 registration of alice through this link: the terminal checks the vector, both sides open one session key, the softswitch reports. */
  async function registers(link: AucService): Promise<void> {
    const v = await link.vector({ idc: ALICE, idsp: IDSP });
    if (!v.ok) throw new Error(`no vector: ${v.reason}`);
    expect(f(kc, v.vector.rand, ALICE).equals(v.vector.authenticator)).toBe(true);
    const binding = { idc: ALICE, idsp: IDSP, rand: v.vector.rand };
    expect(unwrap(kc, v.vector.ekc, binding)!.equals(unwrap(ksp, v.vector.eksp, binding)!)).toBe(true);
    await link.registered(report(v.vector.rand));
    expect((await store.registrations.forTerminal(ALICE)).map((r) => r.ipc)).toEqual(['192.0.2.10']);
    await store.registrations.remove(ALICE, IDSP, 'sip');
  }

  for (const [name, link, attack, refused] of [
    [
      'RADIUS',
      () => overRadius,
      // an allowed client (loopback) with the shared secret, on a port of its own; "no datagram within 400 ms" stands for "no answer"
      (r: RegistrationReport) =>
        sendRaw(radius.acctPort, encodePacket({ code: RadiusCode.AccountingRequest, identifier: 7, secret: Buffer.from(SECRET), attributes: registeredAttributes(r) }), 400),
      [],
    ],
    [
      'Diameter',
      () => overDiameter,
      // a connection of its own naming the listed softswitch
      async (r: RegistrationReport) => {
        const raw = await rawPeer(diameter.port, undefined, SS);
        try {
          expect(resultOf(await raw.handshake())?.code).toBe(RESULT.SUCCESS);
          raw.socket.write(encodeMessage(cxRequest(301, 7, sarRegistered(r, `sip:${SS}`), SS)));
          await raw.waitFor(() => raw.closed || raw.received.length >= 2);
          return raw.received.slice(1).map((a) => [a.commandCode, resultOf(a)?.code]);
        } finally {
          raw.close();
        }
      },
      [[301, RESULT.AUTHORIZATION_REJECTED]],
    ],
  ] as const) {
    it(`over ${name}: refused once the challenge expired, nothing recorded; alice registers through the same link`, async () => {
      const v = await link().vector({ idc: ALICE, idsp: IDSP });
      if (!v.ok) throw new Error('expected a vector');
      t += 31_000; // past challengeTtlSeconds
      expect(await attack(report(v.vector.rand, '198.51.100.69'))).toEqual(refused);
      expect(await store.registrations.forTerminal(ALICE)).toEqual([]);
      expect(await store.failures.get(ALICE)).toBeUndefined();
      await registers(link());
    });
  }
});
