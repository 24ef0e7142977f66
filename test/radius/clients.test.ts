/**
 * Which RADIUS clients the AuC answers, and which client may report on a
 * challenge (issue 8 item 3): an empty client list is loopback only, and an
 * Accounting-Request on a Rand is taken only from the address that asked.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { startRadiusAucServer, type RadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import { failedAttributes, vectorRequestAttributes } from '../../src/adapters/radius/auc-attributes.js';
import { decodePacket, encodePacket, vendorOctets } from '../../src/radius/codec.js';
import { RadiusCode } from '../../src/radius/dictionary.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';
import { FakeAuc } from './fake-auc.js';
import { SECRET } from './setup.js';

const secret = Buffer.from(SECRET);
let identifier = 0;

/** Sends one datagram from a socket bound to `from` and collects what comes back within `waitMs`. */
async function sendFrom(from: string, to: string, port: number, packet: Buffer, waitMs = 300): Promise<Buffer[]> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, from, () => r()));
  await new Promise<void>((r, j) => sock.send(packet, port, to, (e) => (e ? j(e) : r())));
  await new Promise((r) => setTimeout(r, waitMs));
  await new Promise<void>((r) => sock.close(() => r()));
  return got;
}

const accessRequest = (idc = 'alice@lab.example') =>
  encodePacket({ code: RadiusCode.AccessRequest, identifier: ++identifier & 0xff, secret, requestAuthenticator: randomBytes(16), attributes: vectorRequestAttributes({ idc, idsp: 'sbc1.lab.example' }) });

const failureReport = (idc: string, rand?: Buffer) =>
  encodePacket({ code: RadiusCode.AccountingRequest, identifier: ++identifier & 0xff, secret, attributes: failedAttributes({ idc, idsp: 'sbc1.lab.example', ...(rand ? { rand } : {}) }, randomBytes(8).toString('hex')) });

const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
if (!external) console.warn('[keyswitch tests] no non-loopback IPv4 address on this machine: RADIUS non-loopback source check SKIPPED');

describe('RADIUS AuC: an empty client list means loopback only', () => {
  for (const [label, clients] of [
    ['no client list', undefined],
    ['an empty client list', [] as string[]],
  ] as const) {
    it.skipIf(!external)(`with ${label}, drops a well-signed request from a non-loopback source and answers it from loopback`, async () => {
      const auc = new FakeAuc();
      const server = await startRadiusAucServer({ host: '0.0.0.0', authPort: 0, acctPort: 0, secret: SECRET, service: auc, ...(clients ? { clients: [...clients] } : {}) });
      try {
        expect(await sendFrom(external!, external!, server.authPort, accessRequest())).toEqual([]);
        expect(await sendFrom(external!, external!, server.acctPort, failureReport('alice@lab.example'))).toEqual([]);
        expect(server.stats().auth.droppedUnknownClient).toBe(1);
        expect(server.stats().acct.droppedUnknownClient).toBe(1);
        expect(auc.vectors).toHaveLength(0);
        expect(auc.failures).toHaveLength(0);
        // the softswitch of `keyswitch up`, on loopback, is answered
        expect(await sendFrom('127.0.0.1', '127.0.0.1', server.authPort, accessRequest())).toHaveLength(1);
      } finally {
        await server.close();
      }
    });
  }

  it.skipIf(!external)('answers a non-loopback client that is listed', async () => {
    const server = await startRadiusAucServer({ host: '0.0.0.0', authPort: 0, acctPort: 0, secret: SECRET, service: new FakeAuc(), clients: [`${external}/32`] });
    try {
      expect(await sendFrom(external!, external!, server.authPort, accessRequest())).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describeEngines('RADIUS AuC: an Accounting-Request on a challenge is taken only from the client that asked for it', (ctx) => {
  let store: Store;
  let server: RadiusAucServer;
  const alice = 'alice@lab.example';

  beforeAll(async () => {
    store = await ctx.open();
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 600, baseSeconds: 60, maxSeconds: 600 } });
    await store.terminals.create(alice, randomBytes(32));
    await store.proxies.create('sbc1.lab.example', randomBytes(32));
    // Both 127.0.0.1 and 127.0.0.2 are loopback, so both are clients; they are two clients all the same.
    server = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service: auc });
  });
  afterAll(async () => {
    await server.close();
    await store.close();
    await ctx.cleanup();
  });

  it('drops, and does not count, failure reports from another client: the user is not locked out', async () => {
    const [accept] = await sendFrom('127.0.0.1', '127.0.0.1', server.authPort, accessRequest());
    const d = decodePacket(accept!);
    if (!d.ok) throw new Error('undecodable answer');
    expect(d.packet.view.code).toBe(RadiusCode.AccessAccept);
    const rand = vendorOctets(d.packet, 'Keyswitch-Rand')!;
    expect(rand).toHaveLength(16);

    for (let i = 0; i < 6; i++) {
      expect(await sendFrom('127.0.0.2', '127.0.0.1', server.acctPort, failureReport(alice, rand), 100)).toEqual([]);
      expect(await sendFrom('127.0.0.2', '127.0.0.1', server.acctPort, failureReport(alice), 100)).toEqual([]);
    }
    expect(server.stats().droppedUnboundReport).toBe(12);
    expect(await store.failures.get(alice)).toBeUndefined();

    // the client that asked reports, and is heard, once
    expect(await sendFrom('127.0.0.1', '127.0.0.1', server.acctPort, failureReport(alice, rand))).toHaveLength(1);
    expect((await store.failures.get(alice))?.count).toBe(1);
    const [again] = await sendFrom('127.0.0.1', '127.0.0.1', server.authPort, accessRequest());
    const d2 = decodePacket(again!);
    expect(d2.ok && d2.packet.view.code).toBe(RadiusCode.AccessAccept);
  });
});

describe('CIDR filters (RADIUS and Diameter clients, the softswitch\'s trusted SBCs)', () => {
  it('a bare address is one host, an IPv4 peer on a dual-stack socket is matched as IPv4, and malformed entries are refused', async () => {
    const { cidrFilter, sourceFilter } = await import('../../src/radius/client-filter.js');
    const f = cidrFilter(['192.0.2.0/24', '198.51.100.7', '2001:db8::/32'], 'test');
    for (const a of ['192.0.2.1', '::ffff:192.0.2.200', '198.51.100.7', '2001:db8::1']) expect(f(a), a).toBe(true);
    for (const a of ['192.0.3.1', '198.51.100.8', '2001:db9::1', 'not-an-address', '']) expect(f(a), a).toBe(false);
    // asked again: the same answers (the table of recent answers changes nothing)
    expect(f('192.0.2.1')).toBe(true);
    expect(f('192.0.3.1')).toBe(false);
    // '10.0.0.0/' once read as /0: every source
    for (const bad of ['10.0.0.0/', '10.0.0.0/33', '10.0.0.0/x', '::1/129', 'host.example/32']) expect(() => cidrFilter([bad], 'trustedSbcs'), bad).toThrow(/bad trustedSbcs CIDR/);
    const loop = sourceFilter([]);
    expect([loop('127.0.0.1'), loop('::1'), loop('192.0.2.1')]).toEqual([true, true, false]);
  });
});
