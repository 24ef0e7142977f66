/**
 * The Digest nonce (docs/softswitch.md, "Digest nonce"): AES-256(R) ‖ AES-256(R ⊕ P) under a key of the
 * softswitch's secret. What it promises: it opens to the issue time and serial it was issued with, only
 * under that secret; a forged, altered, spliced or swapped nonce does not open (a new challenge, no AuC
 * call, no failure counted); a nonce of the GCM layout issued before the upgrade under the same secret
 * still opens, and one of another secret (a restart) gets a new challenge.
 */
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatAuth, type SipResponse } from '../../src/sip/index.js';
import { DigestAuth, digestResponse, type DigestParams } from '../../src/softswitch/digest.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, REALM, Registration, Ua, world, type World } from './harness.js';

const URI = 'sip:lab.example';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** A right answer to `nonce` for a password: only the nonce can make it fail. */
function params(nonce: string, username = ALICE, password = 'alice secret', nc = '00000001'): DigestParams {
  const ha1 = md5(`${username}:${REALM}:${password}`);
  return { username, realm: REALM, nonce, uri: URI, qop: 'auth', nc, cnonce: 'c0ffee', algorithm: 'MD5', response: digestResponse('MD5', ha1, { nonce, nc, cnonce: 'c0ffee', method: 'REGISTER', uri: URI }) };
}

/** The layout written here independently: AES-256-ECB(R ‖ R ⊕ (mark ‖ ms ‖ serial)), R's first bit 0. */
function sealV3(secret: Buffer, ms: number, serial: number, r = randomBytes(16)): string {
  const key = createHmac('sha256', secret).update('digest nonce key v3').digest();
  const b = Buffer.alloc(32);
  r.copy(b, 0);
  b[0]! &= 0x7f;
  b.writeUInt32BE(0x80763301, 16);
  b.writeUIntBE(ms, 20, 6);
  b.writeUIntBE(serial, 26, 6);
  for (let i = 0; i < 16; i++) b[16 + i]! ^= b[i]!;
  const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(b), c.final()]).toString('base64url');
}

function sealV2(secret: Buffer, ms: number, serial: number): string {
  const key = createHmac('sha256', secret).update('nonce key').digest();
  const iv = randomBytes(12);
  const plain = Buffer.alloc(16);
  plain.writeBigUInt64BE(BigInt(ms), 0);
  plain.writeBigUInt64BE(BigInt(serial), 8);
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  c.setAAD(Buffer.from('keyswitch digest nonce v2'));
  return Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]).toString('base64url');
}

const b64 = (b: Buffer) => b.toString('base64url');
const raw = (n: string) => Buffer.from(n, 'base64url');

it('a nonce is 43 base64url characters and opens to the time and serial it was issued with; the layout sealed independently opens too', () => {
  let now = 1_700_000_000_123;
  const secret = Buffer.alloc(32, 9);
  const d = new DigestAuth({ realm: REALM, secret, clock: () => now, algorithms: ['MD5'] });
  const mine = d.newNonce();
  expect(mine).toMatch(/^[A-Za-z0-9_-]{43}$/);
  now += 10;
  expect(d.check(params(mine), ALICE, URI)).toMatchObject({ ok: true, issued: now - 10, serial: 1 });
  expect(d.check(params(d.newNonce()), ALICE, URI)).toMatchObject({ ok: true, issued: now, serial: 2 });
  // sealed here: values past 2^32, as a clock in ms is, and a serial as large as 2^48 - 1
  expect(d.check(params(sealV3(secret, now - 299_000, 2 ** 32 + 5)), ALICE, URI)).toMatchObject({ ok: true, issued: now - 299_000, serial: 2 ** 32 + 5 });
  expect(d.check(params(sealV3(secret, now, 2 ** 48 - 1)), ALICE, URI)).toMatchObject({ ok: true, serial: 2 ** 48 - 1 });
  expect(d.check(params(sealV3(secret, now - 301_000, 3)), ALICE, URI)).toEqual({ ok: false, kind: 'stale' });
  // the same time and serial under a new R is another nonce
  expect(sealV3(secret, now, 7)).not.toBe(sealV3(secret, now, 7));
});

it('refuses every forged or altered nonce as not ours: each bit flipped, a character changed, blocks swapped or spliced, another secret, random bytes', () => {
  const secret = randomBytes(32);
  const d = new DigestAuth({ realm: REALM, secret, algorithms: ['MD5'] });
  const notOurs = (nonce: string) => expect(d.check(params(nonce), ALICE, URI), nonce).toEqual({ ok: false, kind: 'unknown-nonce' });
  const a = d.newNonce();
  const b = d.newNonce();
  expect(d.check(params(a), ALICE, URI)).toMatchObject({ ok: true });
  // every single bit of the 32 bytes
  for (let bit = 0; bit < 256; bit++) {
    const x = raw(a);
    x[bit >> 3]! ^= 1 << (bit & 7);
    notOurs(b64(x));
  }
  // every character, to one that changes its bits or only the unused bits of the last one (not the canonical text)
  for (let i = 0; i < a.length; i++) {
    for (const ch of ['A', 'B', 'f', '-', '_']) if (a[i] !== ch) notOurs(a.slice(0, i) + ch + a.slice(i + 1));
  }
  // swapped blocks; one's first block with the other's second; a block twice
  const [a1, a2, b1, b2] = [raw(a).subarray(0, 16), raw(a).subarray(16), raw(b).subarray(0, 16), raw(b).subarray(16)];
  for (const [x, y] of [[a2, a1], [a1, b2], [b1, a2], [a1, a1], [a2, a2], [b2, a1]] as const) notOurs(b64(Buffer.concat([x, y])));
  // truncated, extended, padded
  for (const n of [a.slice(0, 42), a + 'A', a + '=', ' ' + a.slice(1)]) notOurs(n);
  // a right layout under another secret (a restart, another deployment), in both layouts
  notOurs(sealV3(randomBytes(32), Date.now(), 1));
  notOurs(sealV2(randomBytes(32), Date.now(), 1));
  notOurs(new DigestAuth({ realm: REALM, algorithms: ['MD5'] }).newNonce());
  // random bytes of the right length
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
    notOurs(b64(Buffer.from(bytes)));
  }), { numRuns: 2000 });
  // and the real ones still work
  expect(d.check(params(b), ALICE, URI)).toMatchObject({ ok: true });
});

it('a nonce of the GCM layout issued before the upgrade under the same secret still opens with its time', () => {
  const now = 1_700_000_000_500;
  const secret = Buffer.alloc(32, 4);
  const d = new DigestAuth({ realm: REALM, secret, clock: () => now, algorithms: ['MD5'] });
  const old = sealV2(secret, now - 1000, 12);
  expect(old).toHaveLength(59);
  expect(d.check(params(old), ALICE, URI)).toMatchObject({ ok: true, issued: now - 1000, serial: 12 });
  expect(d.settle(d.check(params(old), ALICE, URI) as never, params(old), 'REGISTER', 'MD5', md5(`${ALICE}:${REALM}:alice secret`))).toBe('ok');
  expect(d.check(params(sealV2(secret, now - 301_000, 13)), ALICE, URI)).toEqual({ ok: false, kind: 'stale' });
});

/** What a phone does with a 401 (MD5, the first challenge). */
function answer(res: SipResponse, username: string, password: string, nonce?: string): string {
  const ch = res.auth('WWW-Authenticate').find((x) => x.params.algorithm === 'MD5')!;
  const p = params(nonce ?? ch.params.nonce!, username, password);
  return formatAuth('Digest', { ...p, opaque: ch.params.opaque! }, ['algorithm', 'qop', 'nc']);
}

describeEngines('softswitch Digest: forged nonces from another source', (ctx) => {
  let w: World;
  let phone: Ua;
  let attacker: Ua;
  beforeAll(async () => {
    w = await world(ctx, { digestAlgorithms: ['MD5', 'SHA-256'] });
    phone = await Ua.udp();
    attacker = await Ua.udp();
  });
  afterAll(async () => {
    await phone.close();
    await attacker.close();
    await w.close();
    await ctx.cleanup();
  });

  it('an attacker with an account of his own cannot make nonces: each forged one gets a fresh challenge, costs no AuC call and counts no failure; the phone and he still register', async () => {
    const bob = new Registration(attacker, w.ss.ports.udp!, 'bob@lab.example');
    const c = await bob.send();
    expect(c.status).toBe(401);
    const real = c.auth('WWW-Authenticate')[0]!.params.nonce!;
    const x = raw(real);
    const flipped = Buffer.from(x);
    flipped[20]! ^= 0x01;
    const forged = [
      b64(flipped),
      b64(Buffer.concat([x.subarray(16), x.subarray(0, 16)])),
      sealV3(randomBytes(32), Date.now(), 1),
      b64(randomBytes(32)),
    ];
    const digestCalls = w.auc.of('digest').length;
    for (const nonce of forged) {
      // a right response for bob's own password over the forged nonce: only the nonce can refuse it
      const res = await bob.send({ headers: [['Authorization', answer(c, 'bob@lab.example', 'bob secret', nonce)]] });
      expect(res.status).toBe(401);
      const chs = res.auth('WWW-Authenticate');
      expect(chs.map((a) => a.params.stale)).toEqual([undefined, undefined]);
      expect(chs[0]!.params.nonce).not.toBe(nonce);
    }
    expect(w.auc.of('digest')).toHaveLength(digestCalls);
    expect(w.auc.of('failed')).toEqual([]);
    expect(await w.store.bindings.current('bob@lab.example')).toEqual([]);
    // the legitimate phone, from its own source
    const alice = new Registration(phone, w.ss.ports.udp!, ALICE);
    const ac = await alice.send();
    expect((await alice.send({ headers: [['Authorization', answer(ac, ALICE, 'alice secret')]] })).status).toBe(200);
    // and the attacker's own account with the nonce he was given
    expect((await bob.send({ headers: [['Authorization', answer(c, 'bob@lab.example', 'bob secret')]] })).status).toBe(200);
  });
});
