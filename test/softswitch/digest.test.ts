/** Digest phones and the registrar's RFC 3261 rules, over real UDP on 127.0.0.1, on both storage engines. */
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatAuth, type SipResponse } from '../../src/sip/index.js';
import { DigestAuth, digestResponse } from '../../src/softswitch/digest.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, PHONE, REALM, Registration, sleep, Ua, world, type World } from './harness.js';

function h(alg: 'MD5' | 'SHA-256', s: string): string {
  return createHash(alg === 'MD5' ? 'md5' : 'sha256').update(s).digest('hex');
}

/** What a phone does with a 401: picks the challenge of its algorithm and answers it. */
function answer(res: SipResponse, o: { alg: 'MD5' | 'SHA-256'; username: string; password: string; uri: string; nc?: number; cnonce?: string }): string {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && (a.params.algorithm ?? 'MD5') === o.alg);
  if (!ch) throw new Error('no challenge for ' + o.alg);
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'c' + Math.random().toString(36).slice(2);
  const ha1 = h(o.alg, `${o.username}:${ch.params.realm}:${o.password}`);
  const ha2 = h(o.alg, `REGISTER:${o.uri}`);
  const response = h(o.alg, `${ha1}:${ch.params.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return formatAuth('Digest', {
    username: o.username, realm: ch.params.realm!, nonce: ch.params.nonce!, uri: o.uri, response, algorithm: o.alg,
    qop: 'auth', nc, cnonce, opaque: ch.params.opaque!,
  }, ['algorithm', 'qop', 'nc']);
}

describeEngines('softswitch registrar with Digest', (ctx) => {
  let w: World;
  let ua: Ua;
  beforeAll(async () => {
    w = await world(ctx);
    ua = await Ua.udp();
  });
  afterAll(async () => {
    await ua.close();
    await w.close();
    await ctx.cleanup();
  });
  const reg = (aor = ALICE) => new Registration(ua, w.ss.ports.udp!, aor);

  /** REGISTER, 401, REGISTER with Digest → the second answer. */
  async function login(r: Registration, o: { alg?: 'MD5' | 'SHA-256'; username?: string; password?: string; contacts?: string[]; expires?: number } = {}) {
    const c = await r.send({ ...(o.contacts ? { contacts: o.contacts } : {}), ...(o.expires !== undefined ? { expires: o.expires } : {}) });
    expect(c.status).toBe(401);
    const auth = answer(c, { alg: o.alg ?? 'SHA-256', username: o.username ?? r.aor, password: o.password ?? 'alice secret', uri: `sip:${r.aor.split('@')[1]}` });
    return r.send({ headers: [['Authorization', auth]], ...(o.contacts ? { contacts: o.contacts } : {}), ...(o.expires !== undefined ? { expires: o.expires } : {}) });
  }

  it('challenges with SHA-256 first, then MD5, qop=auth and opaque; accepts SHA-256 and reports s11 without a mechanism', async () => {
    const r = reg();
    const c = await r.send();
    expect(c.status).toBe(401);
    const chs = c.auth('WWW-Authenticate');
    expect(chs.map((a) => [a.scheme, a.params.algorithm, a.params.qop, a.params.realm])).toEqual([
      ['Digest', 'SHA-256', 'auth', REALM],
      ['Digest', 'MD5', 'auth', REALM],
    ]);
    expect(chs[0]!.params.opaque).toBeTruthy();
    expect(chs[0]!.params.stale).toBeUndefined();
    expect(c.getAll('WWW-Authenticate')[0]).toMatch(/algorithm=SHA-256/);
    const ok = await r.send({ headers: [['Authorization', answer(c, { alg: 'SHA-256', username: ALICE, password: 'alice secret', uri: 'sip:lab.example' })]] });
    expect(ok.status).toBe(200);
    expect(ok.getAll('Contact')).toEqual([expect.stringMatching(/^<sip:alice@192\.0\.2\.10:5060>;expires=(3600|3599)$/)]);
    expect(ok.get('Date')).toMatch(/GMT$/);
    expect(ok.get('P-KS-Keys')).toBeUndefined();
    const regs = await w.store.registrations.forTerminal(ALICE);
    expect(regs).toEqual([expect.objectContaining({ protocol: 'sip', mechanism: '', contact: 'sip:alice@192.0.2.10:5060', ipc: '127.0.0.1', idsp: 'ss1.lab.example' })]);
  });

  it('accepts MD5 from a phone that registers to an address with only its user part as username', async () => {
    const r = reg(PHONE);
    const c = await r.send({ uri: 'sip:127.0.0.1' });
    expect(c.status).toBe(401);
    const auth = answer(c, { alg: 'MD5', username: '1000', password: 'phone pw 1000', uri: 'sip:127.0.0.1' });
    const ok = await r.send({ uri: 'sip:127.0.0.1', headers: [['Authorization', auth]] });
    expect(ok.status).toBe(200);
    expect((await w.store.bindings.current(PHONE)).map((b) => b.contact)).toEqual(['sip:1000@192.0.2.10:5060']);
  });

  it('refuses a repeated nonce-count and a Digest for another realm with a new challenge', async () => {
    const r = reg();
    const c = await r.send();
    const auth = answer(c, { alg: 'SHA-256', username: ALICE, password: 'alice secret', uri: 'sip:lab.example', cnonce: 'fixed' });
    expect((await r.send({ headers: [['Authorization', auth]] })).status).toBe(200);
    const again = await r.send({ headers: [['Authorization', auth]] });
    expect(again.status).toBe(401);
    const other = auth.replace(`realm="${REALM}"`, 'realm="elsewhere"');
    expect((await r.send({ headers: [['Authorization', other]] })).status).toBe(401);
    const noUri = auth.replace(/uri="[^"]*", /, '');
    const bad = await r.send({ headers: [['Authorization', noUri]] });
    expect(bad.status).toBe(400);
    expect(bad.reason).toBe('Bad Digest uri');
  });

  it('keeps several contacts, answers a query with all of them, refreshes, and orders by CSeq', async () => {
    const r = reg('bob@lab.example');
    const contacts = ['<sip:bob@192.0.2.20:5060>;q=0.5', '<sip:bob@192.0.2.21:5070;transport=tcp>;expires=120'];
    const ok = await login(r, { password: 'bob secret', contacts, expires: 600 });
    expect(ok.status).toBe(200);
    expect(ok.getAll('Contact')).toEqual([
      expect.stringMatching(/^<sip:bob@192\.0\.2\.21:5070;transport=tcp>;expires=1(20|19)$/),
      expect.stringMatching(/^<sip:bob@192\.0\.2\.20:5060>;expires=(600|599);q=0\.5$/),
    ]);
    // query: no Contact, still authenticated first
    const q1 = await r.send({ contacts: [] });
    expect(q1.status).toBe(401);
    const q2 = await r.send({ contacts: [], headers: [['Authorization', answer(q1, { alg: 'MD5', username: 'bob', password: 'bob secret', uri: 'sip:lab.example' })]] });
    expect(q2.status).toBe(200);
    expect(q2.getAll('Contact')).toHaveLength(2);
    // an older CSeq on the same Call-ID is refused with 500 and changes nothing
    const old = await r.send({ cseq: 1 });
    expect(old.status).toBe(401);
    const stale = await r.send({ cseq: 1, contacts: ['<sip:bob@192.0.2.20:5060>'], expires: 0, headers: [['Authorization', answer(old, { alg: 'MD5', username: 'bob', password: 'bob secret', uri: 'sip:lab.example' })]] });
    expect(stale.status).toBe(500);
    expect(await w.store.bindings.current('bob@lab.example')).toHaveLength(2);
    // Expires: 0 on one contact removes that one and reports the de-registration
    const c = await r.send({ contacts: ['<sip:bob@192.0.2.20:5060>'], expires: 0 });
    const del = await r.send({ contacts: ['<SIP:bob@192.0.2.20:5060>'], expires: 0, headers: [['Authorization', answer(c, { alg: 'SHA-256', username: 'bob', password: 'bob secret', uri: 'sip:lab.example' })]] });
    expect(del.status).toBe(200);
    expect(del.getAll('Contact')).toEqual([expect.stringMatching(/^<sip:bob@192\.0\.2\.21:5070;transport=tcp>/)]);
    expect(w.auc.of('deregistered')).toContainEqual(expect.objectContaining({ idc: 'bob@lab.example', contact: 'sip:bob@192.0.2.20:5060', protocol: 'sip' }));
    expect((await w.store.registrations.forTerminal('bob@lab.example')).map((x) => x.contact)).toEqual(['sip:bob@192.0.2.21:5070;transport=tcp']);
  });

  it('answers 423 with Min-Expires, shortens to the maximum, and handles Contact: *', async () => {
    const r = reg('carol@lab.example');
    const brief = await r.send({ expires: 10 });
    expect(brief.status).toBe(423);
    expect(brief.get('Min-Expires')).toBe('60');
    const long = await login(r, { password: 'carol secret', contacts: ['<sip:carol@192.0.2.30>', '<sip:carol@192.0.2.31>'], expires: 100000 });
    expect(long.status).toBe(200);
    for (const c of long.getAll('Contact')) expect(c).toMatch(/;expires=(7200|7199)$/);
    // * without Expires: 0 is a bad request
    const star = await r.send({ contacts: ['*'], expires: 60 });
    expect(star.status).toBe(400);
    const starMixed = await r.send({ contacts: ['*', '<sip:carol@192.0.2.30>'], expires: 0 });
    expect(starMixed.status).toBe(400);
    const ch = await r.send({ contacts: ['*'], expires: 0 });
    expect(ch.status).toBe(401);
    const all = await r.send({ contacts: ['*'], expires: 0, headers: [['Authorization', answer(ch, { alg: 'SHA-256', username: 'carol', password: 'carol secret', uri: 'sip:lab.example' })]] });
    expect(all.status).toBe(200);
    expect(all.getAll('Contact')).toEqual([]);
    expect(await w.store.bindings.current('carol@lab.example')).toEqual([]);
    expect(w.auc.of('deregistered').filter((d) => (d as { idc: string }).idc === 'carol@lab.example')).toHaveLength(2);
  });

  it('counts wrong passwords at the AuC and locks, and the phone cannot tell: 401 each time, right password or not', async () => {
    const r = reg(PHONE);
    const shapes: unknown[] = [];
    const shape = (x: SipResponse) => [x.status, x.headers.map((h) => h.key), x.auth('WWW-Authenticate').map((a) => Object.keys(a.params).join())];
    for (let i = 0; i < 4; i++) {
      const c = await r.send({ uri: 'sip:127.0.0.1' });
      const res = await r.send({ uri: 'sip:127.0.0.1', headers: [['Authorization', answer(c, { alg: 'MD5', username: '1000', password: 'guess' + i, uri: 'sip:127.0.0.1' })]] });
      expect(res.get('Warning')).toBeUndefined();
      shapes.push(shape(res));
    }
    expect(new Set(shapes.map((x) => JSON.stringify(x))).size).toBe(1);
    expect((shapes[0] as unknown[])[0]).toBe(401);
    expect(w.auc.of('failed')).toContainEqual(expect.objectContaining({ idc: PHONE }));
    expect((await w.auc.auc.lockout.status(PHONE)).locked).toBe(true);
    // locked: the right password does not help now, and says nothing either
    const c = await r.send({ uri: 'sip:127.0.0.1' });
    const res = await r.send({ uri: 'sip:127.0.0.1', headers: [['Authorization', answer(c, { alg: 'MD5', username: '1000', password: 'phone pw 1000', uri: 'sip:127.0.0.1' })]] });
    expect(shape(res)).toEqual(shapes[0]);
    expect(res.get('Retry-After')).toBeUndefined();
  });

  it('an unknown identity, a KS1-only one and a wrong password get the same answer; the reason is only counted', async () => {
    await w.store.terminals.create('ks1only@lab.example', Buffer.alloc(32, 3));
    const shape = (x: SipResponse) => [x.status, x.headers.map((h) => h.key), x.auth('WWW-Authenticate').map((a) => Object.keys(a.params).join())];
    const attempt = async (aor: string, password: string) => {
      const r = reg(aor);
      const c = await r.send();
      const res = await r.send({ headers: [['Authorization', answer(c, { alg: 'SHA-256', username: aor, password, uri: 'sip:lab.example' })]] });
      expect(res.get('Warning')).toBeUndefined();
      return shape(res);
    };
    const before = w.ss.stats().register.refusedIdentities;
    const wrong = await attempt('bob@lab.example', 'not bob');
    expect(wrong[0]).toBe(401);
    expect(await attempt('nobody@lab.example', 'anything')).toEqual(wrong);
    expect(await attempt('ks1only@lab.example', '')).toEqual(wrong);
    expect(w.ss.stats().register.refusedIdentities).toBe(before + 2);
  });

  it('a failed guess costs no nonce-table memory; a nonce that authenticated is kept under its identity', () => {
    const d = new DigestAuth({ realm: REALM, algorithms: ['MD5'], maxNonces: 3, noncesPerIdentity: 2 });
    const login = (idc: string, ha1: string, nonce = d.newNonce(), nc = '00000001') => {
      const p = { username: idc, realm: REALM, nonce, uri: 'sip:lab.example', qop: 'auth', nc, cnonce: 'c', response: digestResponse('MD5', ha1, { nonce, nc, cnonce: 'c', method: 'REGISTER', uri: 'sip:lab.example' }) };
      const c = d.check(p, idc, 'sip:lab.example');
      if (!c.ok) return c.kind;
      return d.verify(c, p, 'REGISTER', 'MD5', 'a'.repeat(32)) ? 'ok' : 'wrong';
    };
    for (let i = 0; i < 50; i++) expect(login(`x${i}@lab.example`, 'b'.repeat(32))).toBe('wrong');
    expect(d.trackedNonces).toBe(0);
    // one identity keeps at most its share; its oldest nonce is retired (stale from then on), not anyone else's
    const first = d.newNonce();
    expect(login('a@lab.example', 'a'.repeat(32), first)).toBe('ok');
    expect(login('b@lab.example', 'a'.repeat(32))).toBe('ok');
    for (let i = 0; i < 5; i++) expect(login('a@lab.example', 'a'.repeat(32))).toBe('ok');
    expect(d.trackedNonces).toBe(3);
    expect(login('a@lab.example', 'a'.repeat(32), first, '00000002')).toBe('stale');
    // the global bound retires the oldest entry overall, whoever it is; it too is refused as stale afterwards
    expect(login('c@lab.example', 'a'.repeat(32))).toBe('ok');
    expect(d.trackedNonces).toBe(3);
  });

  it('expired nonces leave the table together, not a few per login', () => {
    let now = 1_000_000;
    const d = new DigestAuth({ realm: REALM, algorithms: ['MD5'], nonceTtlSec: 1, clock: () => now });
    const login = (idc: string) => {
      const nonce = d.newNonce();
      const p = { username: idc, realm: REALM, nonce, uri: 'sip:lab.example', qop: 'auth', nc: '00000001', cnonce: 'c', response: digestResponse('MD5', 'a'.repeat(32), { nonce, nc: '00000001', cnonce: 'c', method: 'REGISTER', uri: 'sip:lab.example' }) };
      const c = d.check(p, idc, 'sip:lab.example');
      return c.ok && d.verify(c, p, 'REGISTER', 'MD5', 'a'.repeat(32)) ? 'ok' : 'refused';
    };
    for (let i = 0; i < 20; i++) expect(login(`p${i}@lab.example`)).toBe('ok');
    expect(d.trackedNonces).toBe(20);
    now += 2000;
    expect(login('late@lab.example')).toBe('ok');
    expect(d.trackedNonces).toBe(1);
  });

  it('de-registers expired bindings and reports them', async () => {
    const r = reg('bob@lab.example');
    const ok = await login(r, { password: 'bob secret', contacts: ['<sip:bob@192.0.2.99>'], expires: 60 });
    expect(ok.status).toBe(200);
    await w.store.db.knex('sip_bindings').where({ aor: 'bob@lab.example', contact: 'sip:bob@192.0.2.99' }).update({ expires_at: Date.now() - 1 });
    await w.ss.sweep();
    expect(w.auc.of('deregistered')).toContainEqual(expect.objectContaining({ idc: 'bob@lab.example', contact: 'sip:bob@192.0.2.99' }));
    expect((await w.store.bindings.current('bob@lab.example')).map((b) => b.contact)).not.toContain('sip:bob@192.0.2.99');
  });
});

describeEngines('softswitch Digest nonce expiry', (ctx) => {
  let w: World;
  let ua: Ua;
  beforeAll(async () => {
    w = await world(ctx, { digestNonceTtlSec: 1 });
    ua = await Ua.udp();
  });
  afterAll(async () => {
    await ua.close();
    await w.close();
    await ctx.cleanup();
  });

  it('answers an expired nonce with stale=true, and the phone gets in with the new one', async () => {
    const r = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c = await r.send();
    await sleep(1100);
    const late = await r.send({ headers: [['Authorization', answer(c, { alg: 'SHA-256', username: ALICE, password: 'alice secret', uri: 'sip:lab.example' })]] });
    expect(late.status).toBe(401);
    expect(late.auth('WWW-Authenticate').map((a) => a.params.stale)).toEqual(['true', 'true']);
    const ok = await r.send({ headers: [['Authorization', answer(late, { alg: 'SHA-256', username: ALICE, password: 'alice secret', uri: 'sip:lab.example' })]] });
    expect(ok.status).toBe(200);
    // a stale nonce is not a wrong password
    expect(w.auc.of('failed')).toEqual([]);
  });
});

it('Digest checks never throw on arbitrary parameters', () => {
  const d = new DigestAuth({ realm: REALM });
  const nonce = d.newNonce();
  const names = ['username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'qop', 'nc', 'cnonce', 'opaque'];
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...names), fc.oneof(fc.string(), fc.constant(nonce), fc.constant(REALM), fc.constant('auth'))), (p) => {
      const r = d.check(p, ALICE, 'sip:lab.example');
      if (r.ok) d.verify(r, p, 'REGISTER', r.algorithm, '00');
    }),
    { numRuns: 2000 },
  );
});

it('the challenge values are formatAuth of the challenges, each with a new nonce; a nonce sealed in the v2 layout opens with its time', () => {
  let now = 1_700_000_000_123;
  const secret = Buffer.alloc(32, 7);
  const d = new DigestAuth({ realm: REALM, secret, clock: () => now, algorithms: ['MD5', 'SHA-256'] });
  for (const stale of [false, true, false]) {
    const values = d.challengeValues(stale);
    const nonce = /nonce="([^"]+)"/.exec(values[0]!)![1]!;
    const expected = d.challenges(stale).map((c) => formatAuth(c.scheme, { ...c.params, nonce }));
    expect(values).toEqual(expected);
    expect(/nonce="([^"]+)"/.exec(values[1]!)![1]).toBe(nonce);
    expect(d.challengeValues(stale)[0]).not.toBe(values[0]);
  }
  // IV ‖ AES-256-GCM(issue ms ‖ serial, 8 bytes big-endian each; AAD 'keyswitch digest nonce v2') ‖ tag, sealed here independently
  const key = createHmac('sha256', secret).update('nonce key').digest();
  const seal = (ms: bigint, serial: bigint): string => {
    const iv = Buffer.alloc(12, 1);
    const plain = Buffer.alloc(16);
    plain.writeBigUInt64BE(ms, 0);
    plain.writeBigUInt64BE(serial, 8);
    const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    c.setAAD(Buffer.from('keyswitch digest nonce v2'));
    return Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]).toString('base64url');
  };
  const p = (nonce: string) => ({ username: ALICE, realm: REALM, nonce, uri: 'sip:lab.example', qop: 'auth', nc: '00000001', cnonce: 'c', response: 'a'.repeat(32) });
  const fresh = d.check(p(seal(BigInt(now - 1000), 1n)), ALICE, 'sip:lab.example');
  expect(fresh).toMatchObject({ ok: true, issued: now - 1000, serial: 1 });
  // past 2^32 in either half, as a clock in ms is
  expect(d.check(p(seal(BigInt(now - 299_000), 2n ** 32n + 5n)), ALICE, 'sip:lab.example')).toMatchObject({ ok: true, issued: now - 299_000, serial: 2 ** 32 + 5 });
  expect(d.check(p(seal(BigInt(now - 301_000), 3n)), ALICE, 'sip:lab.example')).toEqual({ ok: false, kind: 'stale' });
  // and one this instance issued reads back the clock it was issued at
  const mine = /nonce="([^"]+)"/.exec(d.challengeValues()[0]!)![1]!;
  now += 10;
  expect(d.check(p(mine), ALICE, 'sip:lab.example')).toMatchObject({ ok: true, issued: now - 10 });
});

it('each response is checked under its own uri, method and algorithm, in any order (the HA2 of the last one is reused only when all three match)', () => {
  const d = new DigestAuth({ realm: REALM, algorithms: ['MD5', 'SHA-256'] });
  const ha1 = { MD5: h('MD5', `${ALICE}:${REALM}:pw`), 'SHA-256': h('SHA-256', `${ALICE}:${REALM}:pw`) };
  const attempt = (alg: 'MD5' | 'SHA-256', method: string, uri: string, signedUri = uri): string => {
    const nonce = d.newNonce();
    const p = { username: ALICE, realm: REALM, nonce, uri, qop: 'auth', nc: '00000001', cnonce: 'c', algorithm: alg, response: digestResponse(alg, ha1[alg], { nonce, nc: '00000001', cnonce: 'c', method, uri: signedUri }) };
    const c = d.check(p, ALICE, uri);
    if (!c.ok) return c.kind;
    return d.verify(c, p, method, alg, ha1[alg]) ? 'ok' : 'bad';
  };
  const seq: Array<['MD5' | 'SHA-256', string, string]> = [
    ['MD5', 'REGISTER', 'sip:lab.example'], ['MD5', 'REGISTER', 'sip:lab.example'], ['MD5', 'REGISTER', 'sip:127.0.0.1'],
    ['SHA-256', 'REGISTER', 'sip:127.0.0.1'], ['MD5', 'INVITE', 'sip:127.0.0.1'], ['MD5', 'REGISTER', 'sip:lab.example'], ['SHA-256', 'INVITE', 'sip:bob@lab.example'],
  ];
  for (const [alg, method, uri] of seq) expect(attempt(alg, method, uri), `${alg} ${method} ${uri}`).toBe('ok');
  // signed over another uri (or method) than the one sent: refused, also right after that uri was used
  expect(attempt('MD5', 'REGISTER', 'sip:lab.example', 'sip:127.0.0.1')).toBe('bad');
  expect(attempt('MD5', 'REGISTER', 'sip:127.0.0.1', 'sip:lab.example')).toBe('bad');
  expect(attempt('MD5', 'REGISTER', 'sip:127.0.0.1')).toBe('ok');
});
