/**
 * `softswitch.sip.peers`: another softswitch instance's Record-Route entry is
 * this one's too, so a dialog set up through a dead instance continues here
 * (docs/scale-out.md, "Losing a softswitch instance"); but a request sent
 * from a peer's address is not this instance's own spiral, and is
 * authenticated like any other (played by a sender at the peer's address).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRequest, createSipStack, createUdpTransport, randomToken, type SipStack } from '../../src/sip/index.js';
import { LOOP_PARAM } from '../../src/sip/proxy/hops.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, world, type World } from './harness.js';

const PEER = '127.0.0.7';
const FAST = { T1: 50, T2: 200, T4: 500 };

async function udpStack(host: string, onRequest: Parameters<typeof createSipStack>[0]['onRequest'] = () => undefined): Promise<SipStack> {
  return createSipStack({ transports: [await createUdpTransport({ host, port: 0 })], timers: FAST, onRequest });
}

describeEngines('softswitch peers', (ctx) => {
  let w: World;
  let peer: SipStack;
  let phone: SipStack;
  let next: SipStack;
  const reached: string[] = [];
  let ss: { address: string; port: number; protocol: 'udp' };

  beforeAll(async () => {
    // the peer's SIP address is held by this test: it plays a sender at that address
    peer = await udpStack(PEER);
    next = await udpStack('127.0.0.1', (req, c) => {
      reached.push(req.callId());
      c.respond(200, undefined, {});
    });
    w = await world(ctx, { calls: { peers: [{ host: PEER, port: peer.transports[0]!.port }] } });
    ss = { address: '127.0.0.1', port: w.ss.ports.udp!, protocol: 'udp' };
    phone = await udpStack('127.0.0.1');
  });
  afterAll(async () => {
    await Promise.all([peer?.close(), next?.close(), phone?.close()]);
    await w?.close();
    await ctx.cleanup();
  });

  it("an in-dialog request routed through a peer's Record-Route entry is taken as routed here and goes on by the rest of the route set", async () => {
    const callId = randomToken();
    const hop = `127.0.0.1:${next.transports[0]!.port}`;
    const bye = createRequest('BYE', `sip:bob@${hop}`, [
      ['Route', `<sip:${PEER}:${peer.transports[0]!.port};lr>`], ['Route', `<sip:${hop};lr>`],
      ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:bob@lab.example>;tag=${randomToken()}`],
      ['Call-ID', callId], ['CSeq', '2 BYE'], ['Max-Forwards', '70'],
    ]);
    const res = await phone.send(bye, { destination: ss });
    expect(res.status).toBe(200);
    expect(reached).toContain(callId);
  });

  it("a request from a peer's address carrying a spiral's Via is challenged, not taken as our own spiral", async () => {
    const invite = createRequest('INVITE', 'sip:bob@lab.example', [
      ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', '<sip:bob@lab.example>'],
      ['Call-ID', randomToken()], ['CSeq', '1 INVITE'], ['Max-Forwards', '70'], ['Contact', `<sip:alice@${PEER}>`],
    ]);
    const res = await peer.send(invite, { destination: ss, viaParams: { [LOOP_PARAM]: 'x' } });
    expect(res.status).toBe(407);
  });
});
