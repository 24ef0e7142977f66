/**
 * The relay's per-branch alternates (src/sip/proxy/relay.ts): other addresses of one next hop
 * (the instances of an SBC pool), tried with the request unchanged when the one before answers
 * nothing at all; a final answer from a live one ends the branch. Over real stacks, the silent
 * hop a UDP socket that reads and never answers.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRequest, createSipStack, createUdpTransport, parseMessage,
  type ServerContext, type SipRequest, type SipResponse, type SipStack,
} from '../../../src/sip/index.js';
import { ProxyCore } from '../../../src/sip/proxy/core.js';
import { OwnAddresses } from '../../../src/sip/proxy/own-addresses.js';

const TIMERS = { T1: 50, T2: 200, T4: 250 };
const stacks: SipStack[] = [];
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  for (const s of sockets.splice(0)) s.close();
});

async function uas(fn: (req: SipRequest, ctx: ServerContext) => void): Promise<{ port: number; got: SipRequest[] }> {
  const got: SipRequest[] = [];
  const stack = createSipStack({ transports: [await createUdpTransport()], timers: TIMERS, onRequest: (r, c) => { got.push(r); fn(r, c); } });
  stacks.push(stack);
  return { port: stack.transports[0]!.port, got };
}

/** A host that takes datagrams and never answers (an instance that died without its port closing). */
async function silent(): Promise<{ port: number; got: string[] }> {
  const got: string[] = [];
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => got.push(m.toString('latin1').split('\r\n')[0]!));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  sockets.push(s);
  return { port: s.address().port, got };
}

/** A proxy relaying every request to one branch: `first`, then the alternates `rest`. */
async function proxy(first: () => number, rest: () => number[]) {
  const failed: Array<{ port: number | undefined; why: string; method: string }> = [];
  let core!: ProxyCore;
  let stack!: SipStack;
  stack = createSipStack({
    transports: [await createUdpTransport()],
    timers: TIMERS,
    onRequest: async (r, ctx) => {
      const c = core.check(r);
      if (!c.ok) return void ctx.reply(core.refusal(r, c.status));
      const at = (port: number) => ({ address: '127.0.0.1', port, protocol: 'udp' as const });
      const out = await core.relay({
        stack, ctx, fwd: c.fwd, noAnswerTimeoutMs: 300,
        branches: [{ destination: at(first()), alternates: rest().map(at) }],
        onHopFailed: (d, _br, why, method) => failed.push({ port: d?.port, why, method }),
        upstream: (res) => ctx.reply(res, { forwarded: true }),
      });
      if (out.kind !== 'failed') return void ctx.reply(out.res, { forwarded: true });
      if (out.best && !out.best.local) ctx.reply(out.best.res, { forwarded: true });
      else ctx.respond(out.best?.status ?? 480, undefined, { toTag: 'local' });
    },
  });
  stacks.push(stack);
  core = new ProxyCore({ own: new OwnAddresses().addTransports(stack.transports), agent: 'test' });
  return { port: stack.transports[0]!.port, failed };
}

async function send(method: 'INVITE' | 'BYE', proxyPort: number, route: string): Promise<SipResponse> {
  const stack = createSipStack({ transports: [await createUdpTransport()], timers: TIMERS, onRequest: (_r, c) => void c.respond(200) });
  stacks.push(stack);
  const req = createRequest(method, 'sip:bob@192.0.2.7:5062', [
    ['Route', route],
    ['From', '<sip:alice@lab.example>;tag=a1'], ['To', `<sip:bob@lab.example>${method === 'BYE' ? ';tag=b1' : ''}`], ['Call-ID', `alt-${method}-${proxyPort}`], ['CSeq', `1 ${method}`],
    ['Contact', `<sip:alice@127.0.0.1:${stack.transports[0]!.port}>`],
  ]);
  return stack.send(req, { destination: { address: '127.0.0.1', port: proxyPort } });
}

describe('relay: alternates of one next hop', () => {
  it('an INVITE the first address does not answer goes, unchanged, to the next, which answers', async () => {
    const dead = await silent();
    const live = await uas((r, c) => { if (r.method === 'INVITE') { c.respond(100); c.respond(200, undefined, { toTag: 'b1' }); } });
    const p = await proxy(() => dead.port, () => [live.port]);
    const route = `<sip:127.0.0.1:${dead.port};lr;ks-x=1>`;
    const res = await send('INVITE', p.port, route);
    expect(res.status).toBe(200);
    expect(dead.got[0]).toBe('INVITE sip:bob@192.0.2.7:5062 SIP/2.0');
    // the same request: Request-URI and Route as they were
    expect(live.got[0]!.uri).toBe('sip:bob@192.0.2.7:5062');
    expect(live.got[0]!.list('route')).toEqual([route]);
    expect(p.failed).toEqual([{ port: dead.port, why: 'silent', method: 'INVITE' }]);
  });

  it('a final answer from a live address ends the branch: the next is not tried', async () => {
    const busy = await uas((r, c) => { if (r.method === 'INVITE') c.respond(486, undefined, { toTag: 'b2' }); });
    const other = await uas((r, c) => { if (r.method === 'INVITE') c.respond(200, undefined, { toTag: 'b3' }); });
    const p = await proxy(() => busy.port, () => [other.port]);
    const res = await send('INVITE', p.port, `<sip:127.0.0.1:${busy.port};lr>`);
    expect(res.status).toBe(486);
    expect(other.got).toHaveLength(0);
    expect(p.failed).toEqual([]);
  });

  it('a non-INVITE (a BYE) the first address does not answer goes to the next; with none left it waits for its own timeout', async () => {
    const dead = await silent();
    const live = await uas((_r, c) => void c.respond(200));
    const p = await proxy(() => dead.port, () => [live.port]);
    const res = await send('BYE', p.port, `<sip:127.0.0.1:${dead.port};lr>`);
    expect(res.status).toBe(200);
    expect(live.got.map((r) => r.method)).toEqual(['BYE']);
    expect(p.failed).toEqual([{ port: dead.port, why: 'silent', method: 'BYE' }]);

    // every address silent: the last one is not given up on early (Timer F: 64·T1 here), the answer is 408
    const dead2 = await silent();
    const q = await proxy(() => dead.port, () => [dead2.port]);
    const res2 = await send('BYE', q.port, `<sip:127.0.0.1:${dead.port};lr>`);
    expect(res2.status).toBe(408);
    expect(dead2.got.length).toBeGreaterThan(1); // retransmitted to the last address until the transaction timed out
  });
});
