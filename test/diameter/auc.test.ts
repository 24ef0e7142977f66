import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startDiameterAucServer } from '../../src/adapters/diameter/auc-server.js';
import { AucUnavailableError, type AucService } from '../../src/contracts/auc.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { fakeAuc } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(service?: AucService, logger?: Logger) {
  const fake = fakeAuc();
  const server = await startDiameterAucServer({ host: '127.0.0.1', port: 0, originHost: 'auc1.lab.example', originRealm: 'lab.example', service: service ?? fake.service, peers: [{ originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] }], ...(logger ? { logger } : {}) });
  cleanups.push(() => server.close());
  const client = new DiameterAucClient({
    peers: [{ host: '127.0.0.1', port: server.port }],
    originHost: 'ss1.lab.example',
    originRealm: 'lab.example',
    destinationRealm: 'lab.example',
  });
  cleanups.push(() => client.close());
  expect(await client.ready(3000)).toBe(true);
  return { ...fake, server, client };
}

describe('AucService over Diameter Cx', () => {
  it('MAR/MAA carries the KS1 vector byte for byte', async () => {
    const { client, vectors } = await setup();
    const r = await client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const sent = vectors[0]!;
    expect(r.vector.rand.equals(sent.rand)).toBe(true);
    expect(r.vector.authenticator.equals(sent.authenticator)).toBe(true);
    expect(r.vector.ekc.equals(sent.ekc)).toBe(true);
    expect(r.vector.eksp.equals(sent.eksp)).toBe(true);
    expect(r.vector).toEqual(sent);
  });

  it('maps rejections to Experimental-Result and back to the same reason and retry-after', async () => {
    const { client } = await setup();
    expect(await client.vector({ idc: 'nobody@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ ok: false, reason: 'unknown-terminal' });
    expect(await client.vector({ idc: 'alice@lab.example', idsp: 'rogue.example' })).toEqual({ ok: false, reason: 'unknown-proxy' });
    expect(await client.vector({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ ok: false, reason: 'locked', retryAfterSeconds: 120 });
    expect(await client.vector({ idc: 'dave@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ ok: false, reason: 'disabled' });
  });

  it('serves SIP Digest HA1 through SIP-Digest-Authenticate', async () => {
    const { client } = await setup();
    expect(await client.digest({ idc: 'carol@lab.example', username: 'carol', realm: 'lab.example', algorithm: 'SHA-256' })).toEqual({ ok: true, ha1: 'SHA-256:carol:lab.example' });
    expect(await client.digest({ idc: 'alice@lab.example', username: 'alice', realm: 'lab.example', algorithm: 'MD5' })).toEqual({ ok: false, reason: 'no-sip-password' });
  });

  it('SAR carries registration, de-registration and failures; the SAA carries the lock state', async () => {
    const { client, calls } = await setup();
    const report = {
      idc: 'alice@lab.example',
      idsp: 'sbc1.lab.example',
      ipc: '2001:db8::7',
      protocol: 'sip',
      contact: '<sip:alice@[2001:db8::7]:5060>;expires=3600',
      mechanism: 'tls-psk',
      expiresAt: 1764100800123,
      rand: randomBytes(16),
    };
    await client.registered(report);
    expect(calls.registered).toEqual([report]);
    await client.deregistered({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', protocol: 'mgcp' });
    expect(calls.deregistered).toEqual([{ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', protocol: 'mgcp' }]);
    const rand = randomBytes(16);
    expect(await client.failed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', rand })).toEqual({ locked: false });
    expect(await client.failed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ locked: false });
    expect(await client.failed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ locked: true, retryAfterSeconds: 60 });
    expect(calls.failed[0]!.rand!.equals(rand)).toBe(true);
  });

  it('a failing AuC store surfaces as AucUnavailableError, not a wrong answer', async () => {
    const { client } = await setup();
    await expect(
      client.registered({ idc: 'boom@lab.example', idsp: 'sbc1.lab.example', ipc: '192.0.2.1', protocol: 'sip', contact: '', mechanism: '', expiresAt: 0 }),
    ).rejects.toBeInstanceOf(AucUnavailableError);
  });

  it('a request whose handling throws is answered 5012, logged at error without its values, and counted', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString())), cb()) }));
    const secretRand = randomBytes(16);
    const fake = fakeAuc();
    const service: AucService = {
      ...fake.service,
      // a store fault while making a vector: the request's values must not reach the log
      vector: async () => {
        throw Object.assign(new Error('database unavailable'), { code: 'SQLITE_BUSY' });
      },
    };
    const { client, server } = await setup(service, logger);
    await expect(client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).rejects.toBeInstanceOf(AucUnavailableError);
    await expect(
      client.registered({ idc: 'boom@lab.example', idsp: 'sbc1.lab.example', ipc: '192.0.2.1', protocol: 'sip', contact: '', mechanism: '', expiresAt: 0, rand: secretRand }),
    ).rejects.toBeInstanceOf(AucUnavailableError);
    expect(server.stats().handlerErrors).toBe(2);
    expect(lines).toEqual([
      expect.objectContaining({ level: 50, event: 'diameter-handler-error', command: 'MAR', peer: 'ss1.lab.example', error: { name: 'Error', message: 'database unavailable', code: 'SQLITE_BUSY' } }),
      expect.objectContaining({ level: 50, event: 'diameter-handler-error', command: 'SAR', peer: 'ss1.lab.example', error: { name: 'Error', message: 'database down' } }),
    ]);
    expect(lines[0]!.msg).toMatch(/5012/);
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secretRand.toString('hex'));
    expect(text).not.toContain(secretRand.toString('base64'));
    expect(text).not.toContain('192.0.2.1');
    // the link is still good for the next request
    expect((await client.digest({ idc: 'carol@lab.example', username: 'carol', realm: 'lab.example', algorithm: 'SHA-256' })).ok).toBe(true);
  });

  it('throws AucUnavailableError within its bound when no AuC answers', async () => {
    const { server } = await setup();
    const port = server.port;
    await server.close();
    const client = new DiameterAucClient({
      peers: [{ host: '127.0.0.1', port }],
      originHost: 'ss1.lab.example',
      originRealm: 'lab.example',
      destinationRealm: 'lab.example',
      timeoutMs: 300,
    });
    cleanups.push(() => client.close());
    await expect(client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).rejects.toBeInstanceOf(AucUnavailableError);
  });
});
