/** Calls between registered terminals through the softswitch's router, over real UDP on 127.0.0.1, on both storage engines. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request as httpGet } from 'node:http';
import { createRequest, createSipStack, createTcpTransport, randomToken, type SipStack, type SipTransport } from '../../src/sip/index.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, asSbc, Registration, SBC, SBC_ADDR, world, type Ua, type World } from './harness.js';
import { digestAnswer, Phone, PASSWORDS, sdp } from './calls-phone.js';

const BOB = 'bob@lab.example';
const CAROL = 'carol@lab.example';

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    }).on('error', reject).end();
  });
}

describeEngines('softswitch call routing', (ctx) => {
  let w: World;
  let alice: Phone;
  let bob: Phone;
  let ss: { address: string; port: number };
  beforeAll(async () => {
    w = await world(ctx, { metricsPort: 0, calls: { ringTimeoutMs: 1500 } });
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

  it('INVITE → 180 → 200 → ACK → BYE → 200 end to end, SDP byte-exact both ways, Record-Route present', async () => {
    bob.behaviour = 'answer';
    const call = await alice.invite(BOB);
    const ok = await call.final;
    expect(ok.status).toBe(200);
    expect(call.provisional.map((r) => r.status)).toContain(180);
    // what bob got: the INVITE at his contact, one Max-Forwards less, our Record-Route, the offer unchanged
    const inv = await bob.waitFor('INVITE', call.callId);
    expect(inv.uri).toBe(bob.contact);
    expect(inv.get('Max-Forwards')).toBe('69');
    expect(inv.list('record-route')).toEqual([`<sip:127.0.0.1:${ss.port};lr>`]);
    expect(inv.body.equals(sdp(ALICE))).toBe(true);
    expect(inv.vias()).toHaveLength(2);
    // what alice got: the answer unchanged, the Record-Route echoed, our Via gone
    expect(ok.body.equals(sdp(BOB))).toBe(true);
    expect(ok.list('record-route')).toEqual([`<sip:127.0.0.1:${ss.port};lr>`]);
    expect(ok.vias()).toHaveLength(1);
    const d = await alice.ack(call.inv, ok);
    const ack = await bob.waitFor('ACK', call.callId);
    expect(ack.list('route')).toEqual([]);
    expect(ack.uri).toBe(bob.contact);
    const bye = await alice.send(alice.inDialog(d, 'BYE'));
    expect(bye.status).toBe(200);
    const got = await bob.waitFor('BYE', call.callId);
    expect(got.list('route')).toEqual([]);
    expect(got.get('Max-Forwards')).toBe('69');
  });

  it('re-INVITE and UPDATE inside the dialog, from either side, without touching the store', async () => {
    bob.behaviour = 'answer';
    const call = await alice.invite(BOB);
    const ok = await call.final;
    expect(ok.status).toBe(200);
    const d = await alice.ack(call.inv, ok);
    const before = w.ss.stats().location;
    const inDialogBefore = w.ss.stats().calls.inDialog;
    const offer = sdp('re-offer');
    const re = alice.inDialog(d, 'INVITE', { body: offer });
    const reOk = await alice.send(re);
    expect(reOk.status).toBe(200);
    expect(reOk.body.equals(offer)).toBe(true);
    await alice.ack(re, reOk);
    const upd = await alice.send(alice.inDialog(d, 'UPDATE', { body: sdp('upd') }));
    expect(upd.status).toBe(200);
    expect(upd.body.equals(sdp('upd'))).toBe(true);
    // bob's side of the dialog: BYE from the callee goes back to alice through the softswitch
    const bd = bob.answered.get(call.callId)!;
    expect(bd.routes).toEqual([`<sip:127.0.0.1:${ss.port};lr>`]);
    const byeB = await bob.send(bob.inDialog(bd, 'BYE'));
    expect(byeB.status).toBe(200);
    expect((await alice.waitFor('BYE', call.callId)).uri).toBe(alice.contact);
    const after = w.ss.stats().location;
    expect(after.misses).toBe(before.misses);
    expect(after.hits).toBe(before.hits);
    expect(w.ss.stats().calls.inDialog - inDialogBefore).toBe(3); // re-INVITE, UPDATE, BYE (ACKs are stateless)
  });

  it('404 for an AoR never provisioned, 480 for a provisioned one nobody registered', async () => {
    const a = await (await alice.invite('nobody@lab.example')).final;
    expect(a.status).toBe(404);
    const c = await (await alice.invite(CAROL)).final;
    expect(c.status).toBe(480);
  });

  it('passes 486 Busy Here through', async () => {
    bob.behaviour = 'busy';
    try {
      const r = await (await alice.invite(BOB)).final;
      expect(r.status).toBe(486);
    } finally {
      bob.behaviour = 'answer';
    }
  });

  it('CANCEL while ringing: the callee gets a CANCEL, the caller 487', async () => {
    bob.behaviour = 'ring';
    try {
      const call = await alice.invite(BOB);
      for (let i = 0; i < 100 && !call.provisional.some((r) => r.status === 180); i++) await new Promise((r) => setTimeout(r, 10));
      expect(call.provisional.some((r) => r.status === 180)).toBe(true);
      const c = await alice.cancel(call.inv);
      expect(c.status).toBe(200);
      expect((await call.final).status).toBe(487);
      expect(bob.cancelled.has(call.callId)).toBe(true);
    } finally {
      bob.behaviour = 'answer';
    }
  });

  it('408 when the callee never answers (ring timeout)', async () => {
    bob.behaviour = 'silent';
    try {
      const r = await (await alice.invite(BOB)).final;
      expect(r.status).toBe(408);
    } finally {
      bob.behaviour = 'answer';
    }
  });

  it('tries contacts in q order: a busy first contact, then the one that answers', async () => {
    const carol1 = await Phone.open(CAROL, ss);
    const carol2 = await Phone.open(CAROL, ss);
    try {
      const r = await carol1.register({ contact: carol1.contact });
      expect(r.status).toBe(200);
      // q is a Contact parameter (outside the brackets); registered last, so recency alone would try it first
      const reg2 = await carol2.register({ contact: carol2.contact, contactParams: ';q=0.5' });
      expect(reg2.status).toBe(200);
      carol1.behaviour = 'busy';
      carol2.behaviour = 'answer';
      const ok = await (await alice.invite(CAROL)).final;
      expect(ok.status).toBe(200);
      expect(carol1.received.some((x) => x.method === 'INVITE')).toBe(true);
      expect(carol2.received.some((x) => x.method === 'INVITE')).toBe(true);
    } finally {
      await carol1.register({ contact: carol1.contact, headers: [['Expires', '0']] });
      await carol2.register({ contact: carol2.contact, headers: [['Expires', '0']] });
      await carol1.close();
      await carol2.close();
    }
  });

  it('OPTIONS and MESSAGE to a user are routed; OPTIONS to the softswitch itself is answered by it', async () => {
    const mk = (method: string, uri: string, extra: Array<[string, string]> = [], body?: Buffer) =>
      createRequest(method, uri, [
        ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<${uri}>`], ['Call-ID', randomToken(12)], ['CSeq', `1 ${method}`], ['Max-Forwards', '70'], ...extra,
      ], body);
    const opt = await alice.request(mk('OPTIONS', `sip:${BOB}`));
    expect(opt.status).toBe(200);
    expect(opt.get('Contact')).toBe(`<${bob.contact}>`);
    const text = Buffer.from('hello bob ✓', 'utf8');
    const msg = mk('MESSAGE', `sip:${BOB}`, [['Content-Type', 'text/plain;charset=utf-8']], text);
    const callId = msg.callId();
    expect((await alice.request(msg)).status).toBe(200);
    expect((await bob.waitFor('MESSAGE', callId)).body.equals(text)).toBe(true);
    const self = await alice.stack.send(mk('OPTIONS', `sip:127.0.0.1:${ss.port}`), { destination: ss });
    expect(self.status).toBe(200);
    expect(self.get('Allow')).toContain('INVITE');
    const zero = await alice.stack.send(mk('OPTIONS', `sip:${BOB}`, [['Max-Forwards', '0']]).set('Max-Forwards', '0'), { destination: ss });
    expect(zero.status).toBe(200);
    expect(zero.get('Allow')).toContain('INVITE');
  });

  it('Max-Forwards 0 on an INVITE gets 483 and reaches nobody', async () => {
    const c = createRequest('INVITE', `sip:${BOB}`, [
      ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', 'mf0-' + randomToken()], ['CSeq', '1 INVITE'], ['Max-Forwards', '0'], ['Contact', `<${alice.contact}>`],
    ]);
    const r = await alice.stack.send(c, { destination: ss });
    expect(r.status).toBe(483);
    expect(bob.received.some((x) => x.callId() === c.callId())).toBe(false);
  });

  it('detects a loop: a request that comes back unchanged gets 482', async () => {
    // dave's contact is the AoR at the softswitch itself, so the INVITE comes back until its own key is seen
    const daveAor = `dave@127.0.0.1`;
    await w.store.terminals.create(daveAor, Buffer.alloc(32, 1), 'dave pw');
    PASSWORDS[daveAor] = 'dave pw';
    const dave = await Phone.open(daveAor, ss);
    try {
      expect((await dave.register({ contact: `sip:dave@127.0.0.1:${ss.port}` })).status).toBe(200);
      const r = await (await alice.invite(daveAor)).final;
      expect([482, 483]).toContain(r.status);
      expect(w.ss.stats().calls.loops).toBeGreaterThan(0);
    } finally {
      await dave.register({ contact: `sip:dave@127.0.0.1:${ss.port}`, headers: [['Expires', '0']] });
      await dave.close();
    }
  });

  it('strips P-KS-* headers from an untrusted caller before the callee sees them', async () => {
    const call = await alice.invite(BOB, { headers: [['P-KS-Keys', 'ekc="AAAA"'], ['P-KS-IDSP', 'evil']] });
    const ok = await call.final;
    expect(ok.status).toBe(200);
    const inv = await bob.waitFor('INVITE', call.callId);
    expect(inv.headers.filter((x) => x.key.startsWith('p-ks-'))).toEqual([]);
    const d = await alice.ack(call.inv, ok);
    expect((await alice.send(alice.inDialog(d, 'BYE'))).status).toBe(200);
  });

  it('reaches a terminal registered through a trusted SBC at the SBC, with the contact as Request-URI, in and out of the dialog', async () => {
    // the fake SBC (127.0.0.2, trusted) registers bob2's private contact; it stands in for SBC + terminal
    const sbc = await Phone.open(BOB, ss, SBC_ADDR);
    const contact = 'sip:bob@10.1.2.3:5060;transport=udp';
    try {
      sbc.answerContact = contact;
      const first = await sbc.register({ contact, headers: [['P-KS-IDSP', SBC]] });
      expect(first.status).toBe(200);
      const binding = (await w.store.bindings.current(BOB)).find((b) => b.idsp === SBC)!;
      expect(binding.source).toBe(`udp:${SBC_ADDR}:${sbc.transport.port}`);
      // take bob's direct binding out of the way
      await bob.register({ headers: [['Expires', '0']] });
      const call = await alice.invite(BOB, { headers: [['P-KS-Mech', 'forged']] });
      const ok = await call.final;
      expect(ok.status).toBe(200);
      const inv = await sbc.waitFor('INVITE', call.callId);
      expect(inv.uri).toBe(contact);
      // alice's forged P-KS-Mech is gone; what the SBC gets is only the softswitch's link signature (docs/sip-core-link.md)
      expect(inv.headers.filter((x) => x.key.startsWith('p-ks-')).map((x) => x.key)).toEqual(['p-ks-link']);
      const d = await alice.ack(call.inv, ok);
      expect((await sbc.waitFor('ACK', call.callId)).uri).toBe(contact);
      const bye = await alice.send(alice.inDialog(d, 'BYE'));
      expect(bye.status).toBe(200);
      expect((await sbc.waitFor('BYE', call.callId)).uri).toBe(contact);
    } finally {
      await sbc.register({ contact, headers: [['P-KS-IDSP', SBC], ['Expires', '0']] });
      await sbc.close();
      expect((await bob.register()).status).toBe(200);
    }
  });

  it('a terminal registered through an SBC over TCP is reached at the port the SBC listens on, after the connection it registered on is gone', async () => {
    // An SBC's REGISTER comes on a connection from an ephemeral port; another softswitch instance, or this one
    // once that connection is closed, can reach the SBC only where it listens (its Via's port).
    const fast = { T1: 50, T2: 200, T4: 500 };
    const fakeSbc = async (port: number, onInvite: boolean): Promise<{ stack: SipStack; t: SipTransport; invites: string[] }> => {
      const t = await createTcpTransport({ host: SBC_ADDR, port });
      const invites: string[] = [];
      const stack = asSbc(createSipStack({ transports: [t], timers: fast, onRequest: (req, c) => {
        if (onInvite && req.method === 'INVITE') {
          invites.push(req.uri);
          c.respond(486, 'Busy Here');
        }
      } }), SBC_ADDR);
      return { stack, t, invites };
    };
    const contact = 'sip:bob@10.1.2.4:5060;transport=udp';
    const register = async (sbc: { stack: SipStack; t: SipTransport }, expires: number) => {
      const reg = new Registration({ stack: sbc.stack, transport: sbc.t } as unknown as Ua, w.ss.ports.tcp!, BOB, 'tcp');
      const headers: Array<[string, string]> = [['P-KS-IDSP', SBC], ['Expires', String(expires)]];
      const asked = await reg.send({ contacts: [`<${contact}>`], headers });
      expect(asked.status).toBe(401);
      const auth = digestAnswer(asked, BOB, PASSWORDS[BOB]!, 'sip:lab.example');
      return (await reg.send({ contacts: [`<${contact}>`], headers: [...headers, ['Authorization', auth]] })).status;
    };
    const first = await fakeSbc(0, false);
    const listening = first.t.port;
    expect(await register(first, 3600)).toBe(200);
    const binding = (await w.store.bindings.current(BOB)).find((b) => b.contact === contact)!;
    expect(binding.source).toBe(`tcp:${SBC_ADDR}:${listening}`);
    await first.stack.close();
    const again = await fakeSbc(listening, true);
    try {
      await bob.register({ headers: [['Expires', '0']] });
      const call = await alice.invite(BOB);
      expect((await call.final).status).toBe(486);
      expect(again.invites).toEqual([contact]);
    } finally {
      expect(await register(again, 0)).toBe(200);
      await again.stack.close();
      expect((await bob.register()).status).toBe(200);
    }
  });

  it('serves counters for registrations, authentication failures and calls at /metrics', async () => {
    // one wrong Digest answer
    const r = createRequest('REGISTER', 'sip:lab.example', [
      ['To', `<sip:${ALICE}>`], ['From', `<sip:${ALICE}>;tag=x`], ['Call-ID', randomToken()], ['CSeq', '1 REGISTER'], ['Max-Forwards', '70'], ['Contact', `<${alice.contact}>`],
    ]);
    const c = await alice.stack.send(r, { destination: ss });
    const wrong = createRequest('REGISTER', 'sip:lab.example', [
      ['To', `<sip:${ALICE}>`], ['From', `<sip:${ALICE}>;tag=x`], ['Call-ID', r.callId()], ['CSeq', '2 REGISTER'], ['Max-Forwards', '70'], ['Contact', `<${alice.contact}>`],
      ['Authorization', digestAnswer(c, ALICE, 'not the password', 'sip:lab.example')],
    ]);
    expect((await alice.stack.send(wrong, { destination: ss })).status).toBe(401);
    const text = await scrape(w.ss.ports.metrics!);
    const val = (re: RegExp) => Number(re.exec(text)?.[1] ?? 'NaN');
    expect(val(/^keyswitch_softswitch_registrations_total\{protocol="sip",auth="digest"\} (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(val(/^keyswitch_softswitch_auth_failures_total\{protocol="sip",kind="digest"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(val(/^keyswitch_softswitch_calls_attempted_total (\d+)$/m)).toBeGreaterThanOrEqual(5);
    expect(val(/^keyswitch_softswitch_calls_answered_total (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(val(/^keyswitch_softswitch_calls_failed_total\{status_class="4xx"\} (\d+)$/m)).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/^# TYPE keyswitch_softswitch_calls_attempted_total counter$/m);
  });
});
