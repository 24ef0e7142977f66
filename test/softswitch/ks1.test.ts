/**
 * KS1 at the softswitch over real UDP: through a fake trusted SBC speaking
 * docs/sip-core-link.md, straight from a TerminalFlow terminal (the
 * softswitch plays the SBC), and with the AuC gone.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { f, fromB64u, toB64u, unwrap } from '../../src/crypto/ks1.js';
import { parseMechanisms } from '../../src/flow/mechanisms.js';
import { TerminalFlow } from '../../src/flow/terminal.js';
import type { S1, S6, S7, S10 } from '../../src/flow/messages.js';
import { readS1 as decodeS1, readS7 as decodeS7, readS8 as decodeS8 } from '../../src/adapters/sip/ks1-sip.js';
import { formatAuth, type SipResponse } from '../../src/sip/index.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, Registration, SBC, SBC_ADDR, SELF, Ua, world, type World } from './harness.js';

const b = (text: string | undefined, len?: number): Buffer => {
  const v = fromB64u(text ?? '', len);
  if (!v) throw new Error('bad base64url ' + text);
  return v;
};

function ks1Challenge(res: SipResponse) {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'KS1');
  if (!ch) throw new Error(`no KS1 challenge in ${res.status}`);
  return ch.params;
}

describeEngines('softswitch KS1 through a trusted SBC', (ctx) => {
  let w: World;
  let sbc: Ua;
  let terminal: Ua;
  beforeAll(async () => {
    w = await world(ctx);
    sbc = await Ua.udp(SBC_ADDR);
    terminal = await Ua.udp('127.0.0.1');
  });
  afterAll(async () => {
    await sbc.close();
    await terminal.close();
    await w.close();
    await ctx.cleanup();
  });
  const idsp: [string, string] = ['P-KS-IDSP', SBC];

  it('s2 → 401 (s5); s8 → 200 with P-KS-Keys both sides open to one key (s9), and s11 with the mechanism and IPc', async () => {
    const r = new Registration(sbc, w.ss.ports.udp!, ALICE);
    const s5 = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: ALICE, realm: SBC })]] });
    expect(s5.status).toBe(401);
    expect(s5.getAll('WWW-Authenticate')).toHaveLength(1);
    const ch = ks1Challenge(s5);
    expect(ch.realm).toBe(SBC);
    expect(ch.algorithm).toBe('ks1');
    const rand = b(ch.nonce, 16);
    const s8 = await r.send({
      headers: [idsp, ['P-KS-Mech', 'tls-psk'], ['P-KS-IPC', '198.51.100.7'],
        ['Authorization', formatAuth('KS1', { username: ALICE, realm: SBC, nonce: ch.nonce!, response: toB64u(f(w.kc, rand, ALICE)) })]],
    });
    expect(s8.status).toBe(200);
    // s10 is the SBC's to build: the core link carries no Authentication-Info
    expect(s8.get('Authentication-Info')).toBeUndefined();
    const pk = /ekc="([^"]+)", eksp="([^"]+)", rand="([^"]+)"/.exec(s8.get('P-KS-Keys') ?? '');
    expect(pk).not.toBeNull();
    expect(pk![3]).toBe(ch.nonce);
    const binding = { idc: ALICE, idsp: SBC, rand };
    const atTerminal = unwrap(w.kc, b(pk![1]), binding);
    const atSbc = unwrap(w.ksp, b(pk![2]), binding);
    expect(atTerminal).toHaveLength(32);
    expect(atTerminal!.equals(atSbc!)).toBe(true);
    expect(s8.getAll('Contact')).toEqual([expect.stringMatching(/^<sip:alice@192\.0\.2\.10:5060>;expires=/)]);
    const regs = await w.store.registrations.forTerminal(ALICE);
    expect(regs).toContainEqual(expect.objectContaining({ idsp: SBC, ipc: '198.51.100.7', mechanism: 'tls-psk', protocol: 'sip', contact: 'sip:alice@192.0.2.10:5060' }));
    const bound = await w.store.bindings.current(ALICE);
    expect(bound).toEqual([expect.objectContaining({ idsp: SBC, mechanism: 'tls-psk', source: `udp:${SBC_ADDR}:${sbc.transport.port}` })]);

    // a refresh proved by the mechanism at the SBC needs no challenge
    const vectorsBefore = w.auc.of('vector').length;
    const refresh = await r.send({ headers: [idsp, ['P-KS-Auth', 'mechanism=tls-psk']], expires: 1800 });
    expect(refresh.status).toBe(200);
    expect(refresh.getAll('Contact')).toEqual([expect.stringMatching(/;expires=(1800|1799)$/)]);
    expect(w.auc.of('vector').length).toBe(vectorsBefore);
    // ... but not for a mechanism it was not registered with
    const other = await r.send({ headers: [idsp, ['P-KS-Auth', 'mechanism=app-hmac']] });
    expect(other.status).toBe(401);
    // and the same headers from an untrusted source are ignored: a plain Digest challenge
    const forged = new Registration(terminal, w.ss.ports.udp!, ALICE);
    const f1 = await forged.send({ headers: [idsp, ['P-KS-Auth', 'mechanism=tls-psk']], expires: 0 });
    expect(f1.status).toBe(401);
    expect(f1.auth('WWW-Authenticate').map((a) => a.scheme)).toEqual(['Digest', 'Digest']);
    expect(await w.store.bindings.current(ALICE)).toHaveLength(1);
    expect(w.ss.stats().register.pksStripped).toBeGreaterThan(0);
  });

  it('offers only Digest when the SBC forwards a REGISTER without any Authorization (a Digest phone)', async () => {
    const r = new Registration(sbc, w.ss.ports.udp!, 'bob@lab.example');
    const res = await r.send({ headers: [idsp] });
    expect(res.status).toBe(401);
    expect(res.auth('WWW-Authenticate').map((a) => `${a.scheme}/${a.params.algorithm}`)).toEqual(['Digest/SHA-256', 'Digest/MD5']);
  });

  it('lets a Digest phone register through the SBC: the binding names the SBC and no key material comes back', async () => {
    const idc = 'bob@lab.example';
    const r = new Registration(sbc, w.ss.ports.udp!, idc);
    const c = await r.send({ headers: [idsp, ['P-KS-IPC', '198.51.100.9']], contacts: ['<sip:bob@198.51.100.9:5060>'] });
    const ch = c.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && a.params.algorithm === 'SHA-256')!.params;
    const H = (x: string) => createHash('sha256').update(x).digest('hex');
    // the SBC may have rewritten the Request-URI; the phone signed its own
    const uri = 'sip:lab.example;transport=udp';
    const response = H(`${H(`bob:${ch.realm}:bob secret`)}:${ch.nonce}:00000001:abc:auth:${H(`REGISTER:${uri}`)}`);
    const auth = formatAuth('Digest', { username: 'bob', realm: ch.realm!, nonce: ch.nonce!, uri, response, algorithm: 'SHA-256', qop: 'auth', nc: '00000001', cnonce: 'abc', opaque: ch.opaque! }, ['algorithm', 'qop', 'nc']);
    const ok = await r.send({ headers: [idsp, ['P-KS-IPC', '198.51.100.9'], ['Authorization', auth]], contacts: ['<sip:bob@198.51.100.9:5060>'] });
    expect(ok.status).toBe(200);
    expect(ok.get('P-KS-Keys')).toBeUndefined();
    expect(await w.store.bindings.current(idc)).toEqual([expect.objectContaining({ idsp: SBC, mechanism: '' })]);
    expect(await w.store.registrations.forTerminal(idc)).toContainEqual(expect.objectContaining({ idsp: SBC, ipc: '198.51.100.9', mechanism: '' }));
  });

  it('answers a wrong authenticator and a spent Rand with a fresh challenge; counts only the wrong one', async () => {
    const r = new Registration(sbc, w.ss.ports.udp!, 'bob@lab.example');
    const s5 = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: 'bob@lab.example', realm: SBC })]] });
    const nonce = ks1Challenge(s5).nonce!;
    const failedBefore = w.auc.of('failed').length;
    const wrong = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: 'bob@lab.example', realm: SBC, nonce, response: toB64u(Buffer.alloc(16, 7)) })]] });
    expect(wrong.status).toBe(401);
    const next = ks1Challenge(wrong).nonce;
    expect(next).not.toBe(nonce);
    expect(w.auc.of('failed').length).toBe(failedBefore + 1);
    const spent = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: 'bob@lab.example', realm: SBC, nonce, response: toB64u(Buffer.alloc(16, 7)) })]] });
    expect(spent.status).toBe(401);
    expect(w.auc.of('failed').length).toBe(failedBefore + 1);
    const malformed = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: 'bob@lab.example', realm: SBC, nonce: 'short', response: 'x' })]] });
    expect(malformed.status).toBe(400);
    expect(malformed.reason).toBe('Bad KS1 nonce');
  });

  it('challenges an unknown terminal and fails it as a wrong key (the reason only counted); an unknown SBC identity gets 403', async () => {
    const answers = async (idc: string) => {
      const r = new Registration(sbc, w.ss.ports.udp!, idc);
      const s5 = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: idc, realm: SBC })]] });
      const nonce = ks1Challenge(s5).nonce!;
      const s9 = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: idc, realm: SBC, nonce, response: toB64u(Buffer.alloc(16, 9)) })]] });
      const shape = (x: SipResponse) => [x.status, x.headers.map((h) => h.key), x.auth('WWW-Authenticate').map((a) => Object.keys(a.params).join())];
      expect(b(nonce)).toHaveLength(16);
      return [shape(s5), shape(s9)];
    };
    const before = w.ss.stats().register.refusedIdentities;
    const known = await answers('bob@lab.example');
    expect(known.map((a) => a[0])).toEqual([401, 401]);
    expect(await answers('nobody@lab.example')).toEqual(known);
    expect(w.ss.stats().register.refusedIdentities).toBe(before + 2);
    const r2 = new Registration(sbc, w.ss.ports.udp!, ALICE);
    const res2 = await r2.send({ headers: [['P-KS-IDSP', 'rogue.example'], ['Authorization', formatAuth('KS1', { username: ALICE, realm: 'rogue.example' })]] });
    expect(res2.status).toBe(403);
  });

  it('locks after repeated wrong authenticators, and the terminal cannot tell: 401 each time', async () => {
    const idc = 'carol@lab.example';
    const r = new Registration(sbc, w.ss.ports.udp!, idc);
    let res = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: idc, realm: SBC })]] });
    const statuses: number[] = [];
    for (let i = 0; i < 3 && res.status === 401; i++) {
      const nonce = ks1Challenge(res).nonce!;
      res = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: idc, realm: SBC, nonce, response: toB64u(Buffer.alloc(16, i)) })]] });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401]);
    expect(res.get('Retry-After')).toBeUndefined();
    expect(res.get('Warning')).toBeUndefined();
    expect((await w.auc.auc.lockout.status(idc)).locked).toBe(true);
    const again = await r.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: idc, realm: SBC })]] });
    expect(again.status).toBe(401);
    expect(ks1Challenge(again).nonce).toBeDefined();
  });
});

/** The terminal side of docs/design.md's SIP encoding, written from the page. */
function s1Header(s1: S1): string {
  const p: Record<string, string> = { username: s1.idc, n1: toB64u(s1.n1), ts: String(s1.ts) };
  if (s1.idsp) p.realm = s1.idsp;
  return formatAuth('KS1', p);
}
function s6Of(res: SipResponse, idc: string): S6 {
  const p = ks1Challenge(res);
  const offered = parseMechanisms(res.getAll('Security-Server').join(', '));
  if (!offered.ok) throw new Error('bad Security-Server');
  return { idc, idsp: p.realm!, n1: b(p.n1, 16), n2: b(p.n2, 16), ts: Number(p.ts), rand: b(p.nonce, 16), offered: offered.list };
}
function s7Headers(s7: S7): Array<[string, string]> {
  return [
    ['Authorization', formatAuth('KS1', { username: s7.idc, realm: s7.idsp!, nonce: toB64u(s7.rand!), response: toB64u(s7.authenticator), n1: toB64u(s7.n1), n2: toB64u(s7.n2), ts: String(s7.ts) })],
    ['Security-Client', s7.mechs.text],
  ];
}
function s10Of(res: SipResponse, idc: string, idsp: string): S10 {
  const ai = res.authenticationInfo();
  if (!ai || ai.scheme !== 'KS1') throw new Error('no KS1 Authentication-Info');
  const p = ai.params;
  return { idc, idsp, n1: b(p.n1, 16), n2: b(p.n2, 16), ts: Number(p.ts), ekc: b(p.ekc), mech: p.mech!, mechs: p.mechs!, mac: b(p.mac, 16) };
}

describeEngines('softswitch KS1 straight from a terminal (no SBC)', (ctx) => {
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

  it('runs s1..s10 with TerminalFlow, then a refresh over TLS-PSK with Kc,s needs no challenge', async () => {
    const t = new TerminalFlow({ idc: ALICE, kc: w.kc, mechanisms: 'tls-psk;q=0.5, app-hmac;q=0.3' });
    const r = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c = await r.send({ headers: [['Authorization', s1Header(t.start())]] });
    expect(c.status).toBe(401);
    expect(c.get('Security-Server')).toBe('tls-psk;q=0.5');
    const s6 = s6Of(c, ALICE);
    expect(s6.idsp).toBe(SELF);
    const s7 = t.onChallenge(s6);
    if (!s7.ok) throw new Error(s7.error);
    const ok = await r.send({ headers: s7Headers(s7.value) });
    expect(ok.status).toBe(200);
    expect(ok.get('Security-Server')).toBe('tls-psk;q=0.5');
    expect(ok.get('P-KS-Keys')).toBeUndefined();
    const done = t.onSuccess(s10Of(ok, ALICE, SELF));
    if (!done.ok) throw new Error(done.error);
    expect(done.value.mechanism).toBe('tls-psk');
    expect(done.value.idsp).toBe(SELF);
    expect(await w.store.registrations.forTerminal(ALICE)).toContainEqual(expect.objectContaining({ idsp: SELF, mechanism: 'tls-psk', ipc: '127.0.0.1' }));
    expect(await w.store.bindings.current(ALICE)).toEqual([expect.objectContaining({ idsp: '', mechanism: 'tls-psk' })]);

    const psk = await Ua.tlsPsk(ALICE, done.value.sessionKey);
    try {
      const tr = new Registration(psk, w.ss.ports.tlsPsk!, ALICE, 'tls');
      const refresh = await tr.send({ expires: 900 });
      expect(refresh.status).toBe(200);
      expect(refresh.getAll('Contact')).toEqual([expect.stringMatching(/;expires=(900|899)$/)]);
    } finally {
      await psk.close();
    }
    // the same refresh without the key is challenged
    const plain = await r.send({ expires: 900 });
    expect(plain.status).toBe(401);
  });

  it('names a missing or malformed KS1 parameter in a 400', async () => {
    const r = new Registration(ua, w.ss.ports.udp!, ALICE);
    const noN1 = await r.send({ headers: [['Authorization', formatAuth('KS1', { username: ALICE, ts: String(Math.floor(Date.now() / 1000)) })]] });
    expect(noN1.status).toBe(400);
    expect(noN1.reason).toBe('Bad KS1 n1');
    const badTs = await r.send({ headers: [['Authorization', formatAuth('KS1', { username: ALICE, n1: toB64u(Buffer.alloc(16, 1)), ts: 'soon' })]] });
    expect(badTs.reason).toBe('Bad KS1 ts');
    const t = new TerminalFlow({ idc: ALICE, kc: w.kc, mechanisms: 'tls-psk;q=0.5' });
    const c = await r.send({ headers: [['Authorization', s1Header(t.start())]] });
    const s7 = t.onChallenge(s6Of(c, ALICE));
    if (!s7.ok) throw new Error(s7.error);
    const noSc = await r.send({ headers: s7Headers(s7.value).slice(0, 1) });
    expect(noSc.status).toBe(400);
    expect(noSc.reason).toBe('Bad KS1 Security-Client');
  });

  it('answers a wrong authenticator, a replayed s7 and a stale ts with a new challenge echoing the last n1', async () => {
    const other = new TerminalFlow({ idc: ALICE, kc: Buffer.alloc(32, 9), mechanisms: 'tls-psk;q=0.5' });
    const r = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c = await r.send({ headers: [['Authorization', s1Header(other.start())]] });
    const s7 = other.onChallenge(s6Of(c, ALICE));
    if (!s7.ok) throw new Error(s7.error);
    const wrong = await r.send({ headers: s7Headers(s7.value) });
    expect(wrong.status).toBe(401);
    expect(ks1Challenge(wrong).n1).toBe(toB64u(s7.value.n1));
    // the same s7 again: its n2 is spent
    const replay = await r.send({ headers: s7Headers(s7.value) });
    expect(replay.status).toBe(401);
    // a terminal whose clock is off by an hour
    const late = new TerminalFlow({ idc: ALICE, kc: w.kc, mechanisms: 'tls-psk;q=0.5', clock: () => Date.now() - 3600_000 });
    const s1 = late.start();
    const refused = await r.send({ headers: [['Authorization', s1Header(s1)]] });
    expect(refused.status).toBe(400);
    expect(w.ss.stats().register.ks1Rechallenges).toBe(1);
    expect(w.ss.stats().register.ks1Failures).toBeGreaterThanOrEqual(1);
  });

  it('refuses a terminal with nothing in common with 494 and the offer', async () => {
    const t = new TerminalFlow({ idc: ALICE, kc: w.kc, mechanisms: 'app-hmac;q=0.5' });
    const r = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c = await r.send({ headers: [['Authorization', s1Header(t.start())]] });
    const s7 = t.onChallenge(s6Of(c, ALICE));
    if (!s7.ok) throw new Error(s7.error);
    const res = await r.send({ headers: s7Headers(s7.value) });
    expect(res.status).toBe(494);
    expect(res.get('Security-Server')).toBe('tls-psk;q=0.5');
  });
});

describeEngines('softswitch with the AuC gone', (ctx) => {
  let w: World;
  let ua: Ua;
  let sbc: Ua;
  beforeAll(async () => {
    w = await world(ctx, { retryAfterSec: 7 });
    ua = await Ua.udp();
    sbc = await Ua.udp(SBC_ADDR);
  });
  afterAll(async () => {
    await ua.close();
    await sbc.close();
    await w.close();
    await ctx.cleanup();
  });

  it('answers 503 with Retry-After while the AuC does not answer, and recovers when it returns', async () => {
    const r = new Registration(sbc, w.ss.ports.udp!, ALICE);
    const s2 = (): Promise<SipResponse> => r.send({ headers: [['P-KS-IDSP', SBC], ['Authorization', formatAuth('KS1', { username: ALICE, realm: SBC })]] });
    w.auc.mode = 'hang';
    const hung = await s2();
    expect(hung.status).toBe(503);
    expect(hung.get('Retry-After')).toBe('7');
    expect(hung.localReason).toBeUndefined(); // the softswitch answered, not our own timer
    w.auc.mode = 'down';
    expect((await s2()).status).toBe(503);
    // Digest's challenge needs no AuC (the nonce is self-validating); its answer does
    const d = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c = await d.send();
    expect(c.status).toBe(401);
    const ch = c.auth('WWW-Authenticate')[1]!.params;
    const auth = formatAuth('Digest', { username: ALICE, realm: ch.realm!, nonce: ch.nonce!, uri: 'sip:lab.example', response: '0'.repeat(32), algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'x' }, ['algorithm', 'qop', 'nc']);
    const dg = await d.send({ headers: [['Authorization', auth]] });
    expect(dg.status).toBe(503);
    expect(dg.get('Retry-After')).toBe('7');
    w.auc.mode = 'up';
    expect((await s2()).status).toBe(401);
    expect(w.ss.stats().register.unavailable).toBe(3);
  });
});

describe('KS1 header decoding', () => {
  it('never throws on arbitrary parameters', () => {
    const names = ['username', 'realm', 'nonce', 'response', 'n1', 'n2', 'ts'];
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), fc.oneof(fc.string(), fc.base64String(), fc.constant(toB64u(Buffer.alloc(16))))), fc.option(fc.string(), { nil: undefined }), (p, sc) => {
        decodeS1(p);
        decodeS7(p, sc);
        decodeS8(p, SBC, 'tls-psk', '192.0.2.1');
      }),
      { numRuns: 3000 },
    );
  });
});
