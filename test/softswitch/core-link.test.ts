/**
 * Issue 8, item 4: the SBC ↔ softswitch link is authenticated, not only
 * address-filtered (docs/sip-core-link.md, "Link authentication").
 *
 * - The contract: what the P-KS-Link MAC binds, its window, single use.
 * - At the softswitch: a process sending from an SBC's (trusted) address
 *   without a valid signature, or with one lifted from another request, is
 *   treated as nobody in particular — challenged, its assertions ignored —
 *   while the signing SBC's requests still go through.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreLinkVerifier, LinkMac, linkCanonical, P_KS_LINK, signCoreLink } from '../../src/adapters/sip/core-link.js';
import {
  createRequest, createSipStack, createUdpTransport, formatAuth, parseMessage, randomToken, serialize,
  type SipRequest, type SipResponse, type SipStack,
} from '../../src/sip/index.js';
import { describeEngines } from '../helpers/engines.js';
import { f, fromB64u, toB64u } from '../../src/crypto/ks1.js';
import { ALICE, LINK_KEY, Registration, SBC, SBC_ADDR, world, type Ua, type World } from './harness.js';
import { Phone } from './calls-phone.js';

const BOB = 'bob@lab.example';
const T0 = 1_700_000_000_000;

function invite(o: { callId?: string; fromTag?: string; toTag?: string; cseq?: string; pai?: string; mech?: string; uri?: string; body?: string; contact?: string } = {}): SipRequest {
  return createRequest('INVITE', o.uri ?? `sip:${BOB}`, [
    ['Via', `SIP/2.0/UDP ${SBC_ADDR}:5070;branch=z9hG4bK${randomToken()};rport`],
    ['From', `<sip:${ALICE}>;tag=${o.fromTag ?? 'ft1'}`],
    ['To', `<sip:${BOB}>${o.toTag ? ';tag=' + o.toTag : ''}`],
    ['Call-ID', o.callId ?? 'call-1'],
    ['CSeq', o.cseq ?? '1 INVITE'],
    ['Max-Forwards', '69'],
    ['Contact', o.contact ?? '<sip:alice@192.0.2.1:5060>'],
    ['P-KS-IDSP', SBC],
    ['P-KS-Auth', `mechanism=${o.mech ?? 'app-hmac'}`],
    ['P-Asserted-Identity', `<sip:${o.pai ?? ALICE}>`],
    ['Content-Type', 'application/sdp'],
  ], Buffer.from(o.body ?? 'v=0\r\n'));
}

/** Moves the P-KS-Link value of `from` onto `to` (what an attacker who captured one does). */
function lift(from: SipRequest, to: SipRequest): SipRequest {
  to.set(P_KS_LINK, from.get(P_KS_LINK)!);
  return to;
}

/** As it arrives: serialised and parsed again (the wire in between). */
function wire(req: SipRequest): SipRequest {
  const r = parseMessage(serialize(req));
  if (!r.ok || !r.message.isRequest()) throw new Error('did not parse');
  return r.message;
}

describe('core-link signature (the contract)', () => {
  const key = randomBytes(32);
  const verifier = (now = T0) => new CoreLinkVerifier(key, { now: () => now });

  it('verifies once as sent over the wire; the same request again is a replay', () => {
    const req = invite();
    signCoreLink(req, key, T0);
    expect(req.get(P_KS_LINK)).toMatch(/^ts=1700000000000;mac=[A-Za-z0-9_-]{43}$/);
    const v = verifier();
    expect(v.verify(wire(req))).toEqual({ ok: true });
    expect(v.verify(wire(req))).toEqual({ ok: false, reason: 'replayed' });
  });

  it('binds Call-ID, CSeq, method, From and To tags, the assertions, Request-URI, Contact and body: lifted onto any other request it fails', () => {
    const signed = invite();
    signCoreLink(signed, key, T0);
    const others: Array<[string, SipRequest]> = [
      ['Call-ID', invite({ callId: 'call-2' })],
      ['CSeq number', invite({ cseq: '2 INVITE' })],
      ['From tag', invite({ fromTag: 'ft2' })],
      ['To tag', invite({ toTag: 'tt9' })],
      ['asserted identity', invite({ pai: 'carol@lab.example' })],
      ['mechanism', invite({ mech: 'tls-psk' })],
      ['Request-URI', invite({ uri: 'sip:carol@lab.example' })],
      ['Contact', invite({ contact: '<sip:mallory@203.0.113.66:5060>' })],
      ['body', invite({ body: 'v=0\r\nc=IN IP4 203.0.113.66\r\n' })],
    ];
    const bye = createRequest('BYE', `sip:${BOB}`, invite().headers.filter((h) => h.key !== 'cseq').map((h) => [h.name, h.value] as [string, string]));
    bye.set('CSeq', '1 BYE');
    others.push(['method', bye]);
    const noPai = invite();
    noPai.remove('P-Asserted-Identity');
    others.push(['an assertion removed', noPai]);
    const extra = invite();
    extra.append('P-KS-IPC', '198.51.100.9');
    others.push(['an assertion added', extra]);
    for (const [what, other] of others) expect(verifier().verify(wire(lift(signed, other))), what).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('ignores what changes hop by hop after signing: Via (pushed, stamped) and Content-Length', () => {
    const req = invite();
    signCoreLink(req, key, T0);
    const arrived = wire(req);
    arrived.prepend('Via', 'SIP/2.0/UDP 127.0.0.9:5099;branch=z9hG4bKother');
    arrived.set('Content-Length', '5');
    expect(verifier().verify(arrived)).toEqual({ ok: true });
  });

  it('canonical form: header names as keys (compact forms too), values trimmed', () => {
    const a = invite();
    const b = createRequest('INVITE', a.uri, a.headers.map((h) => [h.key === 'call-id' ? 'i' : h.name.toUpperCase(), `  ${h.value} `] as [string, string]), a.body);
    expect(linkCanonical(wire(b), '1')).toBe(linkCanonical(a, '1'));
  });

  it('the verifier\'s MAC is HMAC-SHA256 as createHmac computes it: any key length, any text (non-ASCII, longer than its buffer), one instance reused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), fc.array(fc.string({ unit: 'binary', maxLength: 3000 }), { minLength: 1, maxLength: 4 }), (k, texts) => {
        const key = Buffer.from(k);
        const m = new LinkMac(key);
        for (const t of texts) expect(m.of(t).equals(createHmac('sha256', key).update(t, 'utf8').digest())).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a timestamp outside ±60 s, a missing, doubled or malformed header, and another key', () => {
    const req = invite();
    signCoreLink(req, key, T0);
    expect(verifier(T0 + 60_001).verify(wire(req))).toEqual({ ok: false, reason: 'stale' });
    expect(verifier(T0 - 60_001).verify(wire(req))).toEqual({ ok: false, reason: 'stale' });
    expect(verifier(T0 + 59_000).verify(wire(req))).toEqual({ ok: true });
    expect(verifier().verify(invite())).toEqual({ ok: false, reason: 'missing' });
    const twice = wire(req);
    twice.append(P_KS_LINK, req.get(P_KS_LINK)!);
    expect(verifier().verify(twice)).toEqual({ ok: false, reason: 'malformed' });
    for (const bad of ['ts=1;mac=short', 'mac=x', '', 'ts=abc;mac=' + 'A'.repeat(43), `ts=${T0};mac=${'A'.repeat(43)};x=1`]) {
      const r = invite();
      r.set(P_KS_LINK, bad);
      expect(verifier().verify(r), bad).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(new CoreLinkVerifier(randomBytes(32), { now: () => T0 }).verify(wire(req))).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('remembers a bounded number of MACs; what it had to forget early is refused, not accepted twice', () => {
    const v = new CoreLinkVerifier(key, { now: () => T0 + 10, maxSeen: 3 });
    const sent = [0, 1, 2, 3, 4].map((i) => {
      const r = invite({ callId: `c${i}` });
      signCoreLink(r, key, T0 + i);
      return r;
    });
    for (const r of sent) expect(v.verify(wire(r))).toEqual({ ok: true });
    expect(v.remembered).toBe(3);
    for (const r of sent) expect(v.verify(wire(r))).toEqual({ ok: false, reason: 'replayed' });
    // entries older than the window are dropped as time moves on
    const later = new CoreLinkVerifier(key, { now: () => T0, maxSeen: 10 });
    expect(later.verify(wire(sent[0]!))).toEqual({ ok: true });
    expect(later.remembered).toBe(1);
  });

  it('over a long run forgets exactly what left the window, and still refuses a replay of what is within it', () => {
    let now = T0;
    const v = new CoreLinkVerifier(key, { now: () => now, windowMs: 1_000 });
    const kept: SipRequest[] = [];
    for (let i = 0; i < 6_000; i++) {
      now += 1;
      const r = invite({ callId: `long${i}` });
      signCoreLink(r, key, now);
      const w = wire(r);
      expect(v.verify(w)).toEqual({ ok: true });
      if (i % 1_000 === 999) kept.push(r);
    }
    // what arrived in the last 1,000 ms, the entry exactly at the window's edge included
    expect(v.remembered).toBe(1_001);
    // a replay from within the window: refused; from past it: stale (forgotten, and refused by time)
    expect(v.verify(wire(kept[kept.length - 1]!))).toEqual({ ok: false, reason: 'replayed' });
    expect(v.verify(wire(kept[0]!))).toEqual({ ok: false, reason: 'stale' });
  });
});

describeEngines('the softswitch believes only signed SBC requests', (ctx) => {
  let w: World;
  let ss: { address: string; port: number };
  let bob: Phone;
  /** A process on the SBC's (trusted) address that does not have the link key. */
  let local: SipStack;
  /** The real SBC's side: same address, signs with the key. */
  let sbc: Phone;
  beforeAll(async () => {
    w = await world(ctx, { calls: { ringTimeoutMs: 1500 } });
    ss = { address: '127.0.0.1', port: w.ss.ports.udp! };
    bob = await Phone.open(BOB, ss);
    expect((await bob.register()).status).toBe(200);
    local = createSipStack({ transports: [await createUdpTransport({ host: SBC_ADDR })], onRequest: () => undefined, timers: { T1: 50, T2: 200, T4: 500 } });
    sbc = await Phone.open(ALICE, ss, SBC_ADDR);
  });
  afterAll(async () => {
    await bob.close();
    await local.close();
    await sbc.close();
    await w.close();
    await ctx.cleanup();
  });

  const assertion: Array<[string, string]> = [['P-KS-IDSP', SBC], ['P-KS-Auth', 'mechanism=app-hmac'], ['P-Asserted-Identity', `<sip:${ALICE}>`]];
  const invitesAtBob = (callId: string) => bob.received.filter((r) => r.callId() === callId && r.method === 'INVITE');
  const fresh = (callId = randomToken(12)) =>
    createRequest('INVITE', `sip:${BOB}`, [
      ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', callId], ['CSeq', '1 INVITE'], ['Max-Forwards', '70'],
      ['Contact', `<sip:alice@${SBC_ADDR}:5999>`], ...assertion,
    ]);

  it('an INVITE "from alice" with P-KS-Auth and P-Asserted-Identity but no signature, from the SBC\'s address: 407, never reaches bob', async () => {
    const req = fresh();
    const r = await local.send(req, { destination: ss });
    expect(r.status).toBe(407);
    expect(r.getAll('Proxy-Authenticate').length).toBeGreaterThan(0);
    expect(invitesAtBob(req.callId())).toHaveLength(0);
    expect(w.ss.stats().link.refused.missing).toBe(1);
    expect(w.ss.stats().callAuth.asserted).toBe(0);
  });

  it('the SBC\'s signed INVITE goes through; its signature lifted onto another INVITE, or the same INVITE replayed, is challenged', async () => {
    const call = await sbc.invite(BOB, { auth: false, headers: assertion });
    const ok = await call.final;
    expect(ok.status).toBe(200);
    expect(invitesAtBob(call.callId)).toHaveLength(1);
    const asserted = w.ss.stats().callAuth.asserted;
    const captured = call.inv; // as the SBC sent it, P-KS-Link included

    const other = fresh();
    other.set(P_KS_LINK, captured.get(P_KS_LINK)!);
    const r1 = await local.send(other, { destination: ss });
    expect(r1.status).toBe(407);
    expect(invitesAtBob(other.callId())).toHaveLength(0);

    // the captured INVITE itself, in a new transaction (its Via replaced): a replay
    const again = captured.clone();
    again.remove('Via');
    const r2 = await local.send(again, { destination: ss });
    expect(r2.status).toBe(407);
    expect(invitesAtBob(call.callId)).toHaveLength(1);
    expect(w.ss.stats().callAuth.asserted).toBe(asserted);
    expect(w.ss.stats().link.refused['bad-mac']).toBeGreaterThanOrEqual(1);
    expect(w.ss.stats().link.refused.replayed).toBeGreaterThanOrEqual(1);

    const d = await sbc.ack(call.inv, ok);
    expect((await sbc.send(sbc.inDialog(d, 'BYE'))).status).toBe(200);
  });

  it('in-dialog requests from the SBC\'s address need the signature too: unsigned, a BYE with or without our Route is challenged and an ACK dropped', async () => {
    const call = await sbc.invite(BOB, { auth: false, headers: assertion });
    const ok = await call.final;
    expect(ok.status).toBe(200);
    const d = await sbc.ack(call.inv, ok);
    const seen = () => bob.received.filter((r) => r.callId() === call.callId && r.method !== 'INVITE').map((r) => r.method);
    await bob.waitFor('ACK', call.callId);
    // what a local process can see or guess: Call-ID, tags, bob's contact; it sends straight here, not along the route set
    const forged = (method: string) => {
      const r = sbc.inDialog({ ...d, routes: [] }, method);
      r.uri = d.remoteTarget;
      return r;
    };
    const bye = forged('BYE');
    expect((await local.send(bye, { destination: ss })).status).toBe(407);
    await local.sendStateless(forged('ACK'), { destination: ss });
    // and along the captured route set, as the SBC itself would send them (unsigned)
    expect(d.routes.length).toBeGreaterThan(0);
    expect((await local.send(sbc.inDialog(d, 'BYE'), { destination: ss })).status).toBe(407);
    await local.sendStateless(sbc.inDialog(d, 'ACK'), { destination: ss });
    await new Promise((r) => setTimeout(r, 200));
    expect(seen()).toEqual(['ACK']);
    // the SBC's own, signed, BYE ends the call
    expect((await sbc.send(sbc.inDialog(d, 'BYE'))).status).toBe(200);
    expect(seen()).toEqual(['ACK', 'BYE']);
  });

  it('REGISTER: an unsigned "refresh proved by the mechanism" (P-KS-IDSP + P-KS-Auth) from the SBC\'s address cannot move alice\'s binding; the SBC\'s signed one can', async () => {
    // alice registers with KS1 through the (signing) SBC under tls-psk: s2, s8
    const viaSbc = new Registration(sbc as unknown as Ua, ss.port, ALICE);
    const idsp: [string, string] = ['P-KS-IDSP', SBC];
    const s5 = await viaSbc.send({ headers: [idsp, ['Authorization', formatAuth('KS1', { username: ALICE, realm: SBC })]] });
    expect(s5.status).toBe(401);
    const nonce = s5.auth('WWW-Authenticate').find((a) => a.scheme === 'KS1')!.params.nonce!;
    const response = toB64u(f(w.kc, fromB64u(nonce, 16)!, ALICE));
    const s8Req = viaSbc.request({ headers: [idsp, ['P-KS-Mech', 'tls-psk'], ['Authorization', formatAuth('KS1', { username: ALICE, realm: SBC, nonce, response })]] });
    const s8 = await sbc.stack.send(s8Req, { destination: ss });
    expect(s8.status).toBe(200);
    const contacts = async () => (await w.store.bindings.current(ALICE)).map((x) => x.contact);
    expect(await contacts()).toEqual(['sip:alice@192.0.2.10:5060']);

    // a local process on the SBC's address claims a refresh for alice with its own Contact
    const hijack = new Registration({ stack: local } as unknown as Ua, ss.port, ALICE);
    const forged = await hijack.send({ headers: [idsp, ['P-KS-Auth', 'mechanism=tls-psk']], contacts: ['<sip:alice@203.0.113.66:5060>'] });
    expect(forged.status).toBe(401);
    expect(forged.auth('WWW-Authenticate').map((a) => a.scheme)).toEqual(['Digest', 'Digest']);
    expect(await contacts()).toEqual(['sip:alice@192.0.2.10:5060']);
    // ... nor by lifting the SBC's signature from its last REGISTER
    const lifted = hijack.request({ headers: [idsp, ['P-KS-Auth', 'mechanism=tls-psk']], contacts: ['<sip:alice@203.0.113.66:5060>'] });
    lifted.set(P_KS_LINK, s8Req.get(P_KS_LINK)!);
    expect((await local.send(lifted, { destination: ss })).status).toBe(401);
    expect(await contacts()).toEqual(['sip:alice@192.0.2.10:5060']);

    // the SBC's own refresh needs no challenge
    const refresh = await viaSbc.send({ headers: [idsp, ['P-KS-Auth', 'mechanism=tls-psk']], expires: 1800 });
    expect(refresh.status).toBe(200);
  });

  it('a REGISTER without credentials gets the same Digest 401 signed, unsigned or with forged assertions, and its signature is not checked; the one with credentials is', async () => {
    const md5 = (x: string) => createHash('md5').update(x).digest('hex');
    const shape = (r: SipResponse) => [r.status, r.headers.map((h) => h.key), r.auth('WWW-Authenticate').map((a) => [a.scheme, a.params.algorithm, a.params.stale])];
    const idsp: [string, string] = ['P-KS-IDSP', SBC];
    const carol = 'carol@lab.example';
    const link = () => ({ verified: w.ss.stats().link.verified, refused: Object.values(w.ss.stats().link.refused).reduce((a, b) => a + b, 0) });
    const before = link();
    // the SBC relaying a Digest phone's first REGISTER (signed), a local process forging the SBC's assertions (unsigned)
    const viaSbc = new Registration(sbc as unknown as Ua, ss.port, carol);
    const signed = await viaSbc.send({ headers: [idsp, ['P-KS-IPC', '192.0.2.33']] });
    const forged = await new Registration({ stack: local } as unknown as Ua, ss.port, carol).send({ headers: [idsp, ['P-KS-IPC', '203.0.113.66'], ['P-Asserted-Identity', `<sip:${carol}>`]] });
    expect(signed.status).toBe(401);
    expect(shape(forged)).toEqual(shape(signed));
    // neither was verified, remembered or counted as a forgery
    expect(link()).toEqual(before);
    // the phone answers through the SBC: that REGISTER carries credentials, so its signature is checked, and it registers
    const ch = signed.auth('WWW-Authenticate').find((a) => a.params.algorithm === 'MD5')!;
    const ha1 = md5(`${carol}:${ch.params.realm}:carol secret`);
    const uri = 'sip:lab.example';
    const response = md5(`${ha1}:${ch.params.nonce}:00000001:c1:auth:${md5(`REGISTER:${uri}`)}`);
    const auth = formatAuth('Digest', { username: carol, realm: ch.params.realm!, nonce: ch.params.nonce!, uri, response, algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'c1', opaque: ch.params.opaque! }, ['algorithm', 'qop', 'nc']);
    const ok = await viaSbc.send({ headers: [idsp, ['P-KS-IPC', '192.0.2.33'], ['Authorization', auth]] });
    expect(ok.status).toBe(200);
    expect(link()).toEqual({ verified: before.verified + 1, refused: before.refused });
    expect(await w.store.registrations.forTerminal(carol)).toEqual([expect.objectContaining({ idsp: SBC, ipc: '192.0.2.33' })]);
    // the same credentials from the local process, unsigned: its assertions are not believed (refused and counted), so no IDsp
    const again = await new Registration({ stack: local } as unknown as Ua, ss.port, carol).send({ headers: [idsp, ['P-KS-IPC', '203.0.113.66'], ['Authorization', auth]] });
    expect(again.status).toBe(401);
    expect(link()).toEqual({ verified: before.verified + 1, refused: before.refused + 1 });
  });

  it('a forged signature from an untrusted address changes nothing: still stripped and challenged', async () => {
    const alice = await Phone.open(ALICE, ss);
    try {
      const req = fresh();
      signCoreLink(req, LINK_KEY);
      // even a valid signature does not make 127.0.0.1 an SBC (trustedSbcs is 127.0.0.2 here)
      const r = await alice.stack.send(req, { destination: ss });
      expect(r.status).toBe(407);
      expect(invitesAtBob(req.callId())).toHaveLength(0);
    } finally {
      await alice.close();
    }
  });
});

describeEngines('a softswitch without the link key', (ctx) => {
  it('believes no SBC at all: a signed assertion from the trusted address is challenged, counted as no-key', async () => {
    const w = await world(ctx, { coreLinkKey: undefined });
    const ss = { address: '127.0.0.1', port: w.ss.ports.udp! };
    const sbc = await Phone.open(ALICE, ss, SBC_ADDR);
    try {
      const call = await sbc.invite(BOB, { auth: false, headers: [['P-KS-IDSP', SBC], ['P-KS-Auth', 'mechanism=app-hmac'], ['P-Asserted-Identity', `<sip:${ALICE}>`]] });
      expect((await call.final).status).toBe(407);
      expect(w.ss.stats().link.refused['no-key']).toBe(1);
      expect(w.ss.stats().callAuth.asserted).toBe(0);
    } finally {
      await sbc.close();
      await w.close();
      await ctx.cleanup();
    }
  });
});
