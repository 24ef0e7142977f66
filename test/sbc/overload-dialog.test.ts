/**
 * A call already up when the SBC saturates (docs/security.md, "Overload"): the
 * queue toward the core is full (overload.maxPending 1, one registration held at
 * the core's AuC), so new REGISTERs and INVITEs from another source get 503 with
 * Retry-After; the live call's re-INVITE, UPDATE and BYE are work in progress
 * and go through end to end, answered 200 by the other party.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callerRequests, checked, inDialog, register, sdpOffer, type ByeWaiters, type Dialog } from '../../src/terminal/call.js';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
import { newCallId, newTag } from '../../src/terminal/sip-uac.js';
import { signSipMessage } from '../../src/adapters/sip/sbc-app-hmac.js';
import { createAckFor2xx, formatUri, isStar, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import type { VectorRequest, VectorResult } from '../../src/contracts/auc.js';
import { startLab, type Lab } from './setup.js';
import { callee } from './call-helpers.js';
import { startAttacker, type Attacker } from './attacker.js';

/** Slower than the lab's FAST timers: the held request outlives the whole test rather than its transaction's Timer F. */
const PATIENT = { T1: 500, T2: 4000, T4: 5000 };

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function ack(term: SipTerminal, req: SipRequest, res: SipResponse): Promise<void> {
  const a = createAckFor2xx(req, res);
  a.prepend('Via', term.securedUac.via());
  if (term.signer) signSipMessage(a, term.signer);
  return term.securedUac.sendAck(a);
}

/** `from` registered under app-hmac and in an answered, ACKed call with `to`: its terminal and its side of the dialog. */
async function liveCall(l: Lab, from: string, to: string): Promise<{ term: SipTerminal; d: Dialog }> {
  const waiters: ByeWaiters = new Map();
  let term: SipTerminal | undefined;
  term = new SipTerminal({
    ...l.terminal(from, l.provision(from), { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: l.sbc.ports.udp! } }),
    onRequest: callerRequests(() => term!, waiters, () => undefined),
  });
  cleanup.push(() => term!.close());
  await register(term, () => undefined, from);
  const uac = term.securedUac;
  const callId = newCallId();
  const localTag = newTag();
  const invite = uac.build({
    method: 'INVITE', requestUri: `sip:${to}`, aor: from, to: `<sip:${to}>`, callId, cseq: 1, fromTag: localTag,
    headers: [['Contact', term.contact(uac)], ['Content-Type', 'application/sdp']], body: sdpOffer('alice'), signer: term.signer!,
  });
  const res = checked(term, await uac.sendBuilt(invite), 'INVITE');
  expect(res.status).toBe(200);
  await ack(term, invite, res);
  const c = res.contacts()[0];
  const d: Dialog = {
    callId, localTag, remoteTag: String(res.to().params.tag ?? ''), localUri: from, remoteUri: to,
    remoteTarget: c && !isStar(c) ? formatUri(c.uri) : `sip:${to}`, routes: res.list('Record-Route').reverse(), cseq: 1, startedAt: 0,
  };
  return { term, d };
}

/** New work from a third party: a REGISTER without credentials, or an INVITE out of dialog. */
function newRequest(a: Attacker, method: 'REGISTER' | 'INVITE', i: number): string {
  const to = method === 'REGISTER' ? `flood${i}@lab.example` : 'bob@lab.example';
  return [
    `${method} sip:${method === 'REGISTER' ? 'lab.example' : to} SIP/2.0`,
    `Via: SIP/2.0/UDP ${a.host}:${a.port};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:flood${i}@lab.example>;tag=f${i}`,
    `To: <sip:${to}>`,
    `Call-ID: ${randomBytes(8).toString('hex')}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:flood${i}@${a.host}:${a.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

async function metric(l: Lab, line: string): Promise<string | undefined> {
  return (await l.sbc.metrics.render()).split('\n').find((x) => x.startsWith(line + ' '))?.split(' ').pop();
}

describe('overload: a call already up while the SBC sheds new work', () => {
  it('with the queue toward the core full, new REGISTERs and INVITEs from another source get 503 Retry-After; the live call\'s re-INVITE, UPDATE and BYE are answered 200 by the callee', async () => {
    const l = await startLab({ route: true, sbc: { timers: PATIENT, overload: { maxPending: 1, lagHighMs: 0, retryAfterSec: 7 } } });
    cleanup.push(() => l.close());
    const bob = await callee(l, 'bob@lab.example', { calls: 1 });
    const { term: alice, d } = await liveCall(l, 'alice@lab.example', 'bob@lab.example');
    // the ACK has no answer: bob telling he got it is the call being up on both sides
    await vi.waitFor(() => expect(bob.events.map((e) => e.event)).toEqual(['registered', 'incoming', 'ringing', 'answered', 'confirmed']), { timeout: 10_000 });

    // one registration held at the core (its AuC does not answer yet): the queue toward the core is full
    const vector = l.core.auc.vector.bind(l.core.auc);
    let release: (() => void) | undefined;
    l.core.auc.vector = (req: VectorRequest): Promise<VectorResult> =>
      req.idc === 'held@lab.example' ? new Promise<void>((r) => (release = r)).then(() => vector(req)) : vector(req);
    const heldTerm = new SipTerminal(l.terminal('held@lab.example', l.provision('held@lab.example'), { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: l.sbc.ports.udp! }, timers: PATIENT }));
    cleanup.push(() => heldTerm.close());
    const held = heldTerm.registerKs1();
    await vi.waitFor(() => expect(release).toBeDefined(), { timeout: 10_000 });
    expect(await metric(l, 'keyswitch_sbc_core_pending')).toBe('1');

    // the flood, from another address: every new request refused 503 with Retry-After
    const flood = await startAttacker(l.sbc.ports.udp!);
    cleanup.push(() => flood.close());
    const floodAnswers = async (n: number, from: number): Promise<Array<[number | undefined, string | undefined]>> => {
      const asked = [];
      for (let i = from; i < from + n; i++) asked.push(flood.ask(newRequest(flood, i % 2 ? 'INVITE' : 'REGISTER', i), 3000));
      return (await Promise.all(asked)).map((r) => [r?.status, r?.get('Retry-After')]);
    };
    const refused = (n: number) => Array.from({ length: n }, () => [503, expect.stringMatching(/^([7-9]|1[0-4])$/)]);
    expect(await floodAnswers(40, 0)).toEqual(refused(40));

    // the live call meanwhile: a re-INVITE (an INVITE, but in the dialog), an UPDATE and the BYE reach bob, and his 200s reach alice
    const reinvite = inDialog(alice, d, 'INVITE', sdpOffer('alice'));
    const reanswer = checked(alice, await alice.securedUac.sendBuilt(reinvite), 're-INVITE');
    expect(reanswer.status).toBe(200);
    await ack(alice, reinvite, reanswer);
    expect(checked(alice, await alice.securedUac.sendBuilt(inDialog(alice, d, 'UPDATE')), 'UPDATE').status).toBe(200);
    expect(await floodAnswers(20, 40)).toEqual(refused(20));
    expect(checked(alice, await alice.securedUac.sendBuilt(inDialog(alice, d, 'BYE')), 'BYE').status).toBe(200);
    expect(await bob.done).toBe(0);
    expect(bob.events.filter((e) => e.event === 'request' || e.event === 'bye')).toEqual([
      expect.objectContaining({ event: 'request', callId: d.callId, method: 'INVITE' }),
      expect.objectContaining({ event: 'request', callId: d.callId, method: 'UPDATE' }),
      expect.objectContaining({ event: 'bye', callId: d.callId, by: 'remote', status: 200 }),
    ]);

    // still saturated after the BYE: the call went through the overload, not around it
    expect(await floodAnswers(2, 60)).toEqual(refused(2));
    expect(await metric(l, 'keyswitch_sbc_core_pending')).toBe('1');
    expect(await metric(l, 'keyswitch_sbc_overload_rejected_total{kind="new-registration"}')).toBe('31');
    expect(await metric(l, 'keyswitch_sbc_overload_rejected_total{kind="new-dialog"}')).toBe('31');

    // the held registration was work in progress: once the core answers, it completes
    release!();
    await expect(held).resolves.toMatchObject({ mechanism: 'app-hmac' });
  }, 60_000);
});
