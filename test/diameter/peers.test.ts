/**
 * Who may be a Diameter peer of the AuC, and who may report on a challenge
 * (issue 8 item 3). Each attack comes from its own connection; the listed
 * softswitch keeps working beside it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { startDiameterAucServer, type DiameterPeerRule } from '../../src/adapters/diameter/auc-server.js';
import { loadConfig } from '../../src/config/load.js';

/** The allow-list as the configuration reads it (auc.diameter.peers). */
const parseDiameterPeers = (text: string) => loadConfig({ env: { KEYSWITCH_DIAMETER_PEERS: text } }).auc.diameter.peers;
import { AucUnavailableError, type AucService } from '../../src/contracts/auc.js';
import { marVector, sarFailed } from '../../src/adapters/diameter/cx-auc.js';
import { encodeMessage, FLAG_ERROR, resultOf, RESULT } from '../../src/diameter/index.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';
import { cerBytes, cxRequest, fakeAuc, rawPeer } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SS1: DiameterPeerRule = { originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] };

async function aucServer(service: AucService, peers: DiameterPeerRule[] = [SS1]) {
  const refused: { originHost?: string; address: string }[] = [];
  const server = await startDiameterAucServer({
    host: '127.0.0.1',
    port: 0,
    originHost: 'auc1.lab.example',
    originRealm: 'lab.example',
    service,
    peers,
    onRefused: (i) => refused.push(i),
  });
  cleanups.push(() => server.close());
  return { server, refused };
}

function softswitch(port: number, originHost: string): DiameterAucClient {
  const c = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port }], originHost, originRealm: 'lab.example', destinationRealm: 'lab.example', timeoutMs: 1500 });
  cleanups.push(() => c.close());
  return c;
}

const marBytes = (hopByHop: number, originHost: string) =>
  encodeMessage(cxRequest(303, hopByHop, marVector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' }, `sip:${originHost}`), originHost));
const sarFailureBytes = (hopByHop: number, originHost: string) =>
  encodeMessage(cxRequest(301, hopByHop, sarFailed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' }, `sip:${originHost}`), originHost));

describe('Diameter AuC: only listed peers complete CER/CEA', () => {
  it('answers a CER from an unlisted Origin-Host with 3010 DIAMETER_UNKNOWN_PEER, closes, and serves nothing sent after it', async () => {
    const fake = fakeAuc();
    const { server, refused } = await aucServer(fake.service);
    const legit = softswitch(server.port, 'ss1.lab.example');
    expect(await legit.ready(3000)).toBe(true);

    const evil = 'evil.attacker.example';
    const raw = await rawPeer(server.port);
    // CER, a MAR and six failure reports in one segment: none of the requests may be acted on.
    raw.socket.write(Buffer.concat([cerBytes(1, evil), marBytes(2, evil), ...[3, 4, 5, 6, 7, 8].map((h) => sarFailureBytes(h, evil))]));
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(raw.received).toHaveLength(1);
    const cea = raw.received[0]!;
    expect(cea.commandCode).toBe(257);
    expect(resultOf(cea)?.code).toBe(RESULT.UNKNOWN_PEER);
    expect(cea.flags & FLAG_ERROR).toBe(FLAG_ERROR);
    expect(fake.vectors).toHaveLength(0);
    expect(fake.calls.failed).toHaveLength(0);
    expect(refused).toEqual([expect.objectContaining({ originHost: evil, address: '127.0.0.1' })]);

    // the listed softswitch is still served
    expect((await legit.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).ok).toBe(true);
  });

  it('refuses a listed Origin-Host connecting from an address not listed for it', async () => {
    const fake = fakeAuc();
    const { server } = await aucServer(fake.service, [{ originHost: 'ss1.lab.example', addresses: ['192.0.2.1', '10.0.0.0/8'] }]);
    const raw = await rawPeer(server.port, undefined, 'ss1.lab.example');
    const cea = await raw.handshake();
    expect(resultOf(cea)?.code).toBe(RESULT.UNKNOWN_PEER);
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
  });

  it('gives no answer to a request before CER and closes the connection', async () => {
    const fake = fakeAuc();
    const { server } = await aucServer(fake.service);
    const raw = await rawPeer(server.port);
    raw.socket.write(Buffer.concat([marBytes(1, 'ss1.lab.example'), sarFailureBytes(2, 'ss1.lab.example')]));
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(raw.received).toHaveLength(0);
    expect(fake.vectors).toHaveLength(0);
    expect(fake.calls.failed).toHaveLength(0);
  });

  it('compares Origin-Host without case, as DiameterIdentity is an FQDN', async () => {
    const fake = fakeAuc();
    const { server } = await aucServer(fake.service);
    const c = softswitch(server.port, 'SS1.Lab.Example');
    expect(await c.ready(3000)).toBe(true);
    expect((await c.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).ok).toBe(true);
  });

  it('reads the allow-list setting, one address or CIDR per entry, and refuses what it cannot read', () => {
    expect(parseDiameterPeers('ss1.lab.example@172.28.0.20, ss1.lab.example@2001:db8::/64,ss2.lab.example@10.0.0.0/8')).toEqual([
      { originHost: 'ss1.lab.example', addresses: ['172.28.0.20', '2001:db8::/64'] },
      { originHost: 'ss2.lab.example', addresses: ['10.0.0.0/8'] },
    ]);
    for (const bad of ['ss1.lab.example', '@127.0.0.1', 'ss1@', 'ss1@not-an-ip', 'ss1@10.0.0.0/33', 'a b@127.0.0.1']) {
      expect(() => parseDiameterPeers(bad), bad).toThrow();
    }
  });
});

describeEngines('Diameter AuC: a report is accepted only from the peer that asked for its challenge', (ctx) => {
  let store: Store;
  let auc: Auc;
  const idsp = 'sbc1.lab.example';
  const alice = 'alice@lab.example';
  const carol = 'carol@lab.example';

  beforeAll(async () => {
    store = await ctx.open();
    auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 600, baseSeconds: 60, maxSeconds: 600 } });
    await store.terminals.create(alice, randomBytes(32));
    await store.terminals.create(carol, randomBytes(32), 'carol-pw');
    await store.proxies.create(idsp, randomBytes(32));
  });
  afterAll(async () => {
    await store.close();
    await ctx.cleanup();
  });

  async function twoSoftswitches() {
    const { server } = await aucServer(auc, [SS1, { originHost: 'ss2.lab.example', addresses: ['127.0.0.1'] }]);
    const ss1 = softswitch(server.port, 'ss1.lab.example');
    const ss2 = softswitch(server.port, 'ss2.lab.example');
    expect(await ss1.ready(3000)).toBe(true);
    expect(await ss2.ready(3000)).toBe(true);
    return { ss1, ss2 };
  }

  it('refuses, and does not count, failure reports from a peer that did not ask: the user is not locked out', async () => {
    const { ss1, ss2 } = await twoSoftswitches();
    const v = await ss1.vector({ idc: alice, idsp });
    if (!v.ok) throw new Error('expected a vector');
    // The Rand is public (it goes to the terminal in s6); another listed peer cites it, a made-up one, or none.
    for (let i = 0; i < 6; i++) {
      await expect(ss2.failed({ idc: alice, idsp, rand: v.vector.rand })).rejects.toBeInstanceOf(AucUnavailableError);
      await expect(ss2.failed({ idc: alice, idsp, rand: randomBytes(16) })).rejects.toBeInstanceOf(AucUnavailableError);
      await expect(ss2.failed({ idc: alice, idsp })).rejects.toBeInstanceOf(AucUnavailableError);
    }
    await expect(
      ss2.registered({ idc: alice, idsp, ipc: '192.0.2.66', protocol: 'sip', contact: 'sip:alice@192.0.2.66', mechanism: 'app-hmac', expiresAt: Date.now() + 60_000, rand: v.vector.rand }),
    ).rejects.toBeInstanceOf(AucUnavailableError);
    expect(await store.failures.get(alice)).toBeUndefined();
    expect(await store.registrations.forTerminal(alice)).toEqual([]);
    // the challenge is still the asker's to report on
    expect(await store.challenges.get(v.vector.rand.toString('base64url'))).toMatchObject({ used: false, requester: 'diameter:ss1.lab.example' });
    await ss1.registered({ idc: alice, idsp, ipc: '192.0.2.10', protocol: 'sip', contact: 'sip:alice@192.0.2.10', mechanism: 'app-hmac', expiresAt: Date.now() + 60_000, rand: v.vector.rand });
    expect(await store.registrations.forTerminal(alice)).toEqual([expect.objectContaining({ ipc: '192.0.2.10' })]);
    expect((await ss1.vector({ idc: alice, idsp })).ok).toBe(true);
  });

  it('counts the asking peer\'s failure report once per challenge', async () => {
    const { ss1 } = await twoSoftswitches();
    const v = await ss1.vector({ idc: alice, idsp });
    if (!v.ok) throw new Error('expected a vector');
    expect(await ss1.failed({ idc: alice, idsp, rand: v.vector.rand })).toEqual({ locked: false });
    expect((await store.failures.get(alice))?.count).toBe(1);
    // the same report again (a retransmission to another AuC) answers but does not count
    expect(await ss1.failed({ idc: alice, idsp, rand: v.vector.rand })).toEqual({ locked: false });
    expect((await store.failures.get(alice))?.count).toBe(1);
    await store.failures.clear(alice);
  });

  it('takes a Digest failure report only from a peer that was handed that user\'s HA1, once per HA1', async () => {
    const { ss1, ss2 } = await twoSoftswitches();
    expect((await ss2.digest({ idc: carol, username: 'carol', realm: 'lab.example', algorithm: 'SHA-256' })).ok).toBe(true);
    await expect(ss1.failed({ idc: carol, idsp })).rejects.toBeInstanceOf(AucUnavailableError);
    expect(await ss2.failed({ idc: carol, idsp })).toEqual({ locked: false });
    await expect(ss2.failed({ idc: carol, idsp })).rejects.toBeInstanceOf(AucUnavailableError);
    expect((await store.failures.get(carol))?.count).toBe(1);
  });
});
