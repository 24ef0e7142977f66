import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPair } from './setup.js';

describe('RADIUS AuC: client → server round trip over UDP', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  beforeAll(async () => {
    pair = await startPair();
  });
  afterAll(async () => pair.close());

  it('s3/s4: vector() returns the AuC vector with Authenticator_c revealed', async () => {
    const r = await pair.client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const sent = pair.auc.vectors.at(-1)!;
    expect(r.vector.idc).toBe('alice@lab.example');
    expect(r.vector.idsp).toBe('sbc1.lab.example');
    expect(r.vector.rand.equals(sent.rand)).toBe(true);
    expect(r.vector.authenticator.equals(sent.authenticator)).toBe(true);
    expect(r.vector.ekc.equals(sent.ekc)).toBe(true);
    expect(r.vector.eksp.equals(sent.eksp)).toBe(true);
    // The wire carries Unix seconds, rounded down.
    expect(r.vector.expiresAt).toBe(Math.floor(sent.expiresAt / 1000) * 1000);
    expect(pair.auc.calls.at(-1)).toEqual({ method: 'vector', arg: { idc: 'alice@lab.example', idsp: 'sbc1.lab.example' } });
  });

  it('vector() rejections carry the reason and, when locked, the retry-after', async () => {
    expect(await pair.client.vector({ idc: 'locked@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ ok: false, reason: 'locked', retryAfterSeconds: 120 });
    expect(await pair.client.vector({ idc: 'unknown@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ ok: false, reason: 'unknown-terminal' });
    expect(await pair.client.vector({ idc: 'alice@lab.example', idsp: 'rogue-sbc' })).toEqual({ ok: false, reason: 'unknown-proxy' });
  });

  it('digest() returns HA1 for both algorithms and passes the Digest fields through', async () => {
    const md5 = await pair.client.digest({ idc: '1000@127.0.0.1', username: '1000', realm: 'lab.example', algorithm: 'MD5' });
    expect(md5).toEqual({ ok: true, ha1: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' });
    expect(pair.auc.calls.at(-1)).toEqual({ method: 'digest', arg: { idc: '1000@127.0.0.1', username: '1000', realm: 'lab.example', algorithm: 'MD5' } });
    const sha = await pair.client.digest({ idc: '1000@127.0.0.1', username: '1000@127.0.0.1', realm: 'lab.example', algorithm: 'SHA-256' });
    expect(sha.ok && sha.ha1.length).toBe(64);
    expect(await pair.client.digest({ idc: 'nopw@lab.example', username: 'nopw', realm: 'lab.example', algorithm: 'MD5' })).toEqual({ ok: false, reason: 'no-sip-password' });
  });

  it('s11: registered() arrives as Accounting Start with every field', async () => {
    const rand = Buffer.alloc(16, 7);
    const report = {
      idc: 'alice@lab.example',
      idsp: 'sbc1.lab.example',
      ipc: '2001:db8::7',
      protocol: 'sip',
      contact: 'sip:alice@[2001:db8::7]:5060;transport=tcp',
      mechanism: 'tls-psk',
      expiresAt: 1_800_000_000_000,
      rand,
    };
    await pair.client.registered(report);
    expect(pair.auc.registrations.at(-1)).toEqual(report);
    await pair.client.registered({ ...report, mechanism: '', rand: undefined, protocol: 'h323' });
    const last = pair.auc.registrations.at(-1)!;
    expect(last.mechanism).toBe('');
    expect(last.rand).toBeUndefined();
    expect(last.protocol).toBe('h323');
  });

  it('deregistered() arrives as Accounting Stop', async () => {
    await pair.client.deregistered({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', protocol: 'mgcp', contact: 'aaln/1@gw1.lab.example' });
    expect(pair.auc.deregistrations.at(-1)).toEqual({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', protocol: 'mgcp', contact: 'aaln/1@gw1.lab.example' });
    await pair.client.deregistered({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example', protocol: 'sip' });
    expect(pair.auc.deregistrations.at(-1)).toEqual({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example', protocol: 'sip' });
  });

  it('failed() arrives as Accounting Failed and returns the lockout outcome', async () => {
    const rand = Buffer.alloc(16, 9);
    expect(await pair.client.failed({ idc: 'carol@lab.example', idsp: 'sbc1.lab.example', rand })).toEqual({ locked: false });
    expect(pair.auc.failures.at(-1)).toEqual({ idc: 'carol@lab.example', idsp: 'sbc1.lab.example', rand });
    await pair.client.failed({ idc: 'carol@lab.example', idsp: 'sbc1.lab.example' });
    expect(await pair.client.failed({ idc: 'carol@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ locked: true, retryAfterSeconds: 60 });
  });

  it('counts what it answered', () => {
    const s = pair.server.stats();
    expect(s.accessAccepts).toBeGreaterThanOrEqual(3);
    expect(s.accessRejects).toBeGreaterThanOrEqual(4);
    expect(s.accountingStart).toBe(2);
    expect(s.accountingStop).toBe(2);
    expect(s.accountingFailed).toBe(3);
    expect(s.droppedBadMessageAuthenticator + s.droppedMissingMessageAuthenticator + s.droppedMalformed).toBe(0);
  });
});
