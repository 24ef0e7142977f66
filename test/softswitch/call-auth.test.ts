/** Who may call: out-of-dialog requests need a Digest answer to 407, or a trusted SBC's assertion for a KS1 terminal. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRequest, randomToken, type SipRequest } from '../../src/sip/index.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, SBC, SBC_ADDR, world, type World } from './harness.js';
import { Phone, PASSWORDS, sdp, withProxyCredentials } from './calls-phone.js';

const BOB = 'bob@lab.example';
const MALLORY = 'mallory@lab.example';

const sbcAssertion = (idc: string, mechanism = 'app-hmac'): Array<[string, string]> => [
  ['P-KS-IDSP', SBC],
  ['P-KS-Auth', `mechanism=${mechanism}`],
  ['P-Asserted-Identity', `<sip:${idc}>`],
];

describeEngines('call authentication at the softswitch', (ctx) => {
  let w: World;
  let alice: Phone;
  let bob: Phone;
  let ss: { address: string; port: number };
  beforeAll(async () => {
    w = await world(ctx, { calls: { ringTimeoutMs: 1500 } });
    ss = { address: '127.0.0.1', port: w.ss.ports.udp! };
    alice = await Phone.open(ALICE, ss);
    bob = await Phone.open(BOB, ss);
    expect((await alice.register()).status).toBe(200);
    expect((await bob.register()).status).toBe(200);
  });
  afterAll(async () => {
    await alice.close();
    await bob.close();
    await w.close();
    await ctx.cleanup();
  });

  const invitesAtBob = (callId: string) => bob.received.filter((r) => r.callId() === callId && r.method === 'INVITE');

  it('an INVITE without credentials gets 407 (SHA-256 and MD5 challenges) and reaches nobody; the answered one goes through without its credentials', async () => {
    const bare = await alice.invite(BOB, { auth: false });
    const r = await bare.final;
    expect(r.status).toBe(407);
    const ch = r.auth('Proxy-Authenticate');
    expect(ch.map((c) => c.params.algorithm)).toEqual(['SHA-256', 'MD5']);
    expect(ch[0]!.params).toMatchObject({ realm: 'lab.example', qop: 'auth' });
    expect(r.get('WWW-Authenticate')).toBeUndefined();
    expect(invitesAtBob(bare.callId)).toHaveLength(0);

    const call = await alice.invite(BOB);
    const ok = await call.final;
    expect(ok.status).toBe(200);
    expect(call.challenged).toBe(true);
    const inv = await bob.waitFor('INVITE', call.callId);
    expect(inv.get('Proxy-Authorization')).toBeUndefined();
    // in the dialog: no challenge (the route set carries it)
    const before = w.ss.stats().callAuth.challenged;
    const d = await alice.ack(call.inv, ok);
    expect((await alice.send(alice.inDialog(d, 'BYE'))).status).toBe(200);
    expect(w.ss.stats().callAuth.challenged).toBe(before);
  });

  it('MESSAGE and OPTIONS to a user are challenged too', async () => {
    for (const method of ['MESSAGE', 'OPTIONS']) {
      const req = createRequest(method, `sip:${BOB}`, [
        ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', randomToken(12)], ['CSeq', `1 ${method}`], ['Max-Forwards', '70'],
      ], Buffer.from('hi'));
      const unsent = req.clone();
      const r = await alice.stack.send(req, { destination: ss });
      expect(r.status, method).toBe(407);
      expect(bob.received.some((x) => x.callId() === req.callId())).toBe(false);
      const again = await alice.stack.send(withProxyCredentials(unsent, r, ALICE, PASSWORDS[ALICE]!), { destination: ss });
      expect(again.status, method).toBe(200);
    }
  });

  it('credentials of another user than the From: 403, nothing reaches the callee', async () => {
    // bob answers the challenge with his own (valid) password while claiming to be alice
    const call = await alice.invite(BOB, { auth: false });
    const first = await call.final;
    expect(first.status).toBe(407);
    const unsent = createRequest('INVITE', `sip:${BOB}`, [
      ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', randomToken(12)], ['CSeq', '1 INVITE'], ['Max-Forwards', '70'],
      ['Contact', `<${alice.contact}>`], ['Content-Type', 'application/sdp'],
    ], sdp('x'));
    const forged = withProxyCredentials(unsent, first, BOB, PASSWORDS[BOB]!);
    const r = await alice.stack.send(forged, { destination: ss });
    expect(r.status).toBe(403);
    expect(r.get('Warning')).toContain('not the From');
    expect(invitesAtBob(forged.callId())).toHaveLength(0);
  });

  it('a wrong password: 407 again, each counted at the AuC, and once locked still 407 (the right password too): the lockout does not show', async () => {
    await w.store.terminals.create(MALLORY, randomBytes(32), 'mallory pw');
    PASSWORDS[MALLORY] = 'mallory pw';
    const m = await Phone.open(MALLORY, ss);
    try {
      const failedBefore = w.auc.of('failed').length;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const call = await m.invite(BOB, { password: 'guess ' + i });
        statuses.push((await call.final).status);
        expect(invitesAtBob(call.callId)).toHaveLength(0);
      }
      expect(statuses).toEqual([407, 407, 407]); // the third reaches the threshold (3): locked, and answered the same
      expect(w.auc.of('failed').slice(failedBefore)).toEqual([
        { idc: MALLORY, idsp: 'ss1.lab.example' }, { idc: MALLORY, idsp: 'ss1.lab.example' }, { idc: MALLORY, idsp: 'ss1.lab.example' },
      ]);
      expect((await w.auc.auc.lockout.status(MALLORY)).locked).toBe(true);
      const locked = await (await m.invite(BOB)).final;
      expect(locked.status).toBe(407);
      expect(locked.get('Retry-After')).toBeUndefined();
      expect(locked.get('Warning')).toBeUndefined();
      expect(w.ss.stats().callAuth.digestFailures).toBeGreaterThanOrEqual(3);
    } finally {
      await m.close();
    }
  });

  it('a trusted SBC\'s assertion (KS1 terminal, P-KS-Auth + P-Asserted-Identity) is believed: no challenge', async () => {
    const sbc = await Phone.open(ALICE, ss, SBC_ADDR);
    try {
      const before = w.ss.stats().callAuth;
      const call = await sbc.invite(BOB, { auth: false, headers: sbcAssertion(ALICE) });
      const ok = await call.final;
      expect(ok.status).toBe(200);
      expect(w.ss.stats().callAuth.asserted).toBe(before.asserted + 1);
      expect(w.ss.stats().callAuth.challenged).toBe(before.challenged);
      const d = await sbc.ack(call.inv, ok);
      expect((await sbc.send(sbc.inDialog(d, 'BYE'))).status).toBe(200);

      // asserting someone else than the From, or a mechanism without an identity: refused
      const other = await (await sbc.invite(BOB, { auth: false, headers: sbcAssertion(BOB) })).final;
      expect(other.status).toBe(403);
      const noPai = await (await sbc.invite(BOB, { auth: false, headers: sbcAssertion(ALICE).slice(0, 2) })).final;
      expect(noPai.status).toBe(403);
      // a Digest phone behind the SBC (no assertion) is challenged like any other
      const digestPhone = await sbc.invite(BOB, { headers: [['P-KS-IDSP', SBC]] });
      expect((await digestPhone.final).status).toBe(200);
      expect(digestPhone.challenged).toBe(true);
      const d2 = await sbc.ack(digestPhone.inv, await digestPhone.final);
      expect((await sbc.send(sbc.inDialog(d2, 'BYE'))).status).toBe(200);
    } finally {
      await sbc.close();
    }
  });

  it('the same assertion from an untrusted source is stripped, not believed, and never reaches the callee', async () => {
    const bare = await alice.invite(BOB, { auth: false, headers: sbcAssertion(ALICE) });
    expect((await bare.final).status).toBe(407);
    const call = await alice.invite(BOB, { headers: sbcAssertion(ALICE) });
    const ok = await call.final;
    expect(ok.status).toBe(200);
    const inv = await bob.waitFor('INVITE', call.callId);
    expect(inv.get('P-Asserted-Identity')).toBeUndefined();
    expect(inv.headers.filter((h) => h.key.startsWith('p-ks-'))).toEqual([]);
    const d = await alice.ack(call.inv, ok);
    expect((await alice.send(alice.inDialog(d, 'BYE'))).status).toBe(200);
  });

  it('a To tag does not make a dialog: without our Route the request is challenged, an ACK dropped', async () => {
    const forged = (method: string): SipRequest =>
      createRequest(method, bob.contact, [
        ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>;tag=${randomToken()}`], ['Call-ID', 'fake-dialog-' + randomToken()],
        ['CSeq', `5 ${method}`], ['Max-Forwards', '70'], ['Contact', `<${alice.contact}>`],
      ]);
    const inv = forged('INVITE');
    const r = await alice.stack.send(inv, { destination: ss });
    expect(r.status).toBe(407);
    const ack = forged('ACK');
    await alice.stack.sendStateless(ack, { destination: ss });
    const bye = forged('BYE');
    expect((await alice.stack.send(bye, { destination: ss })).status).toBe(407);
    await new Promise((res) => setTimeout(res, 200));
    for (const x of [inv, ack, bye]) expect(bob.received.some((y) => y.callId() === x.callId())).toBe(false);
  });
});
