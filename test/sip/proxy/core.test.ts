/**
 * The proxy core's mechanics (src/sip/proxy): Max-Forwards, loops and spirals, own-Route
 * popping and strict routers, Record-Route per side, the one Warning escaping rule, and the
 * stateful relay (sequential forking, 6xx stops it, CANCEL fan-out, stray 2xx) over real stacks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRequest, createSipStack, createUdpTransport, parseMessage, formatVia,
  type ServerContext, type SipRequest, type SipResponse, type SipStack,
} from '../../../src/sip/index.js';
import { ProxyCore } from '../../../src/sip/proxy/core.js';
import { OwnAddresses } from '../../../src/sip/proxy/own-addresses.js';
import { popOwnRoutes, recordRoutePerSide } from '../../../src/sip/proxy/route.js';
import { takeHop, loopKey, looped, LOOP_PARAM } from '../../../src/sip/proxy/hops.js';
import { warningValue } from '../../../src/sip/proxy/warning.js';
import { defaultPort } from '../../../src/sip/proxy/ports.js';
import { toTag, inDialog } from '../../../src/sip/proxy/dialog.js';

function req(text: string): SipRequest {
  const p = parseMessage(Buffer.from(text.split('\n').join('\r\n') + '\r\n\r\n'));
  if (!p.ok || !p.message.isRequest()) throw new Error('bad test message');
  return p.message;
}

const base = (extra: string[] = [], ruri = 'sip:bob@192.0.2.20'): string => [
  `INVITE ${ruri} SIP/2.0`,
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1',
  ...extra,
  'From: <sip:alice@lab.example>;tag=a1',
  'To: <sip:bob@lab.example>',
  'Call-ID: c1',
  'CSeq: 1 INVITE',
  'Content-Length: 0',
].join('\n');

const own = new OwnAddresses().add('10.0.0.1', 5060).add('proxy.lab.example', 5060);

describe('proxy mechanics', () => {
  it('counts a hop: decrements, sets 70 when absent, refuses at 0', () => {
    const a = req(base(['Max-Forwards: 5']));
    expect(takeHop(a)).toBe(true);
    expect(a.maxForwards()).toBe(4);
    const b = req(base());
    expect(takeHop(b)).toBe(true);
    expect(b.maxForwards()).toBe(70);
    const c = req(base(['Max-Forwards: 0']));
    expect(takeHop(c)).toBe(false);
    const core = new ProxyCore({ own, agent: 'p' });
    const r = core.check(req(base(['Max-Forwards: 0'])));
    expect(r.ok ? 0 : r.status).toBe(483);
  });

  it('pops our own Route entries and keeps a foreign one; repairs a strict router', () => {
    const loose = req(base(['Route: <sip:10.0.0.1;lr>, <sip:PROXY.lab.example:5060;lr>', 'Route: <sip:192.0.2.9;lr>']));
    expect(popOwnRoutes(loose, own)).toEqual({ remaining: 1, popped: 2, strict: false });
    expect(loose.list('route')).toEqual(['<sip:192.0.2.9;lr>']);
    const foreign = req(base(['Route: <sip:192.0.2.9;lr>, <sip:10.0.0.1;lr>']));
    expect(popOwnRoutes(foreign, own)).toEqual({ remaining: 2, popped: 0, strict: false });
    // a strict router put our URI in the Request-URI and the real one last in Route (§16.4)
    const strict = req(base(['Route: <sip:192.0.2.30>, <sip:bob@192.0.2.20>'], 'sip:10.0.0.1'));
    expect(popOwnRoutes(strict, own)).toEqual({ remaining: 1, popped: 0, strict: true });
    expect(strict.uri).toBe('sip:bob@192.0.2.20');
    expect(strict.list('route')).toEqual(['<sip:192.0.2.30>']);
    expect(defaultPort('TLS')).toBe(5061);
    expect(defaultPort('udp')).toBe(5060);
  });

  it('tells a loop (482) from a spiral by the key in our Via', () => {
    const core = new ProxyCore({ own, agent: 'p' });
    const first = req(base(['Max-Forwards: 70']));
    const key = loopKey(first);
    const ourVia = formatVia({ protocol: 'SIP/2.0', transport: 'UDP', host: '10.0.0.1', port: 5060, params: { branch: 'z9hG4bKo', [LOOP_PARAM]: key } });
    const back = req(base(['Max-Forwards: 68']).replace('Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1', `Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKx\nVia: ${ourVia}\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1`));
    expect(looped(back, own, key)).toBe(true);
    const r = core.check(back, { loop: true });
    expect(r.ok ? 0 : r.status).toBe(482);
    // the same request retargeted (a spiral: another Request-URI) is not a loop
    const spiral = req(base([]).replace('INVITE sip:bob@192.0.2.20', 'INVITE sip:bob@192.0.2.21').replace('Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1', `Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKx\nVia: ${ourVia}\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1`));
    expect(core.check(spiral, { loop: true }).ok).toBe(true);
    const pr = core.check(req(base(['Proxy-Require: foo'])), { proxyRequire: true });
    expect(pr.ok ? [] : [pr.status, pr.headers]).toEqual([420, [['Unsupported', 'foo']]]);
  });

  it('one Warning escaping rule, and a refusal carries a fresh To tag', () => {
    expect(warningValue('my realm"x', 'a "quoted"\\ text\r\n')).toBe('399 myrealmx "a quoted text"');
    const core = new ProxyCore({ own, agent: 'sbc.lab' });
    const r = core.refusal(req(base()), 403, { warning: 'no "way"', retryAfter: 4.7 });
    expect(r.status).toBe(403);
    expect(r.get('Warning')).toBe('399 sbc.lab "no way"');
    expect(r.get('Retry-After')).toBe('4');
    expect(toTag(r)).toMatch(/./);
    expect(inDialog(req(base()))).toBe(false);
  });
});

// ---- relay over real stacks ------------------------------------------------

const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

type Uas = (req: SipRequest, ctx: ServerContext) => void;
async function uas(fn: Uas): Promise<{ port: number; got: SipRequest[] }> {
  const got: SipRequest[] = [];
  const stack = createSipStack({ transports: [await createUdpTransport()], timers: { T1: 50, T2: 200, T4: 250 }, onRequest: (r, c) => { got.push(r); fn(r, c); } });
  stacks.push(stack);
  return { port: stack.transports[0]!.port, got };
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A proxy on the core: forwards every request to `branches` in order and answers the outcome. */
async function proxyTo(ports: () => number[]) {
  const upstream: SipResponse[] = [];
  let core!: ProxyCore;
  let stack!: SipStack;
  stack = createSipStack({
    transports: [await createUdpTransport()],
    timers: { T1: 50, T2: 200, T4: 250 },
    onRequest: async (r, ctx) => {
      const c = core.check(r, { loop: true });
      if (!c.ok) return void ctx.reply(core.refusal(r, c.status));
      const out = await core.relay({
        stack, ctx, fwd: c.fwd, loopKey: c.loopKey,
        branches: ports().map((port) => ({ requestUri: `sip:bob@127.0.0.1:${port}`, destination: { address: '127.0.0.1', port } })),
        upstream: (res) => { upstream.push(res); ctx.reply(res, { forwarded: true }); },
      });
      if (out.kind !== 'failed') return void ctx.reply(out.res, { forwarded: true });
      const status = out.cancelled ? 487 : out.best?.status ?? 480;
      if (out.best && !out.best.local && !out.cancelled) ctx.reply(out.best.res, { forwarded: true });
      else ctx.respond(status, undefined, { toTag: 'local' });
    },
  });
  stacks.push(stack);
  core = new ProxyCore({ own: new OwnAddresses().addTransports(stack.transports), agent: 'test' });
  return { port: stack.transports[0]!.port, upstream, stack };
}

async function caller() {
  const stack = createSipStack({ transports: [await createUdpTransport()], timers: { T1: 50, T2: 200, T4: 250 }, onRequest: (_r, c) => { c.respond(200); } });
  stacks.push(stack);
  const invite = (port: number, callId: string) => createRequest('INVITE', `sip:bob@127.0.0.1:${port}`, [
    ['From', '<sip:alice@lab.example>;tag=a1'], ['To', '<sip:bob@lab.example>'], ['Call-ID', callId], ['CSeq', '1 INVITE'],
    ['Contact', `<sip:alice@127.0.0.1:${stack.transports[0]!.port}>`],
  ]);
  return { stack, invite };
}

describe('relay', () => {
  it('forks sequentially: a 486 branch, then a 200 branch answers; 1xx passed up', async () => {
    const busy = await uas((_r, c) => c.respond(486, undefined, { toTag: 'b1' }));
    const ok = await uas((_r, c) => { c.respond(180, undefined, { toTag: 'b2' }); c.respond(200, undefined, { toTag: 'b2' }); });
    const p = await proxyTo(() => [busy.port, ok.port]);
    const a = await caller();
    const provisional: number[] = [];
    const res = await a.stack.send(a.invite(p.port, 'fork1'), { destination: { address: '127.0.0.1', port: p.port }, onResponse: (r) => provisional.push(r.status) });
    expect(res.status).toBe(200);
    expect(toTag(res)).toBe('b2');
    expect(busy.got.map((r) => r.method)).toEqual(['INVITE']); // the ACK for 486 is hop by hop, absorbed by the transaction
    expect(ok.got[0]!.maxForwards()).toBe(69);
    expect(res.vias()).toHaveLength(1);
    await until(() => provisional.includes(180));
  });

  it('a 6xx stops forking and is passed up; later branches are not tried', async () => {
    const decline = await uas((_r, c) => c.respond(603, undefined, { toTag: 'd' }));
    const never = await uas((_r, c) => c.respond(200, undefined, { toTag: 'n' }));
    const p = await proxyTo(() => [decline.port, never.port]);
    const a = await caller();
    const res = await a.stack.send(a.invite(p.port, 'fork2'), { destination: { address: '127.0.0.1', port: p.port } });
    expect(res.status).toBe(603);
    expect(never.got).toHaveLength(0);
  });

  it('CANCEL from upstream reaches the ringing branch (fan-out); the caller gets 487', async () => {
    let cancelled = 0;
    const ringing = await uas((r, c) => {
      if (r.method !== 'INVITE') return;
      c.respond(180, undefined, { toTag: 'r' });
      c.onCancel(() => { cancelled++; c.respond(487, undefined, { toTag: 'r' }); });
    });
    const p = await proxyTo(() => [ringing.port]);
    const a = await caller();
    const inv = a.invite(p.port, 'cancel1');
    let rang = false;
    const done = a.stack.send(inv, { destination: { address: '127.0.0.1', port: p.port }, onResponse: (r) => { if (r.status === 180) rang = true; } });
    await until(() => rang);
    const { createCancel } = await import('../../../src/sip/index.js');
    await a.stack.send(createCancel(inv), { destination: { address: '127.0.0.1', port: p.port }, noVia: true });
    const res = await done;
    expect(res.status).toBe(487);
    expect(cancelled).toBe(1);
  });

  it('passes a stray 2xx whose top Via is ours and drops one that is not', async () => {
    const p = await proxyTo(() => []);
    const core = new ProxyCore({ own: new OwnAddresses().addTransports(p.stack.transports), agent: 't' });
    const mk = (host: string, port: number) => {
      const text = ['SIP/2.0 200 OK', `Via: SIP/2.0/UDP ${host}:${port};branch=z9hG4bKs1`, 'Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKs0', 'From: <sip:a@x>;tag=1', 'To: <sip:b@x>;tag=2', 'Call-ID: s', 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n');
      const m = parseMessage(Buffer.from(text));
      if (!m.ok) throw new Error('x');
      return m.message as SipResponse;
    };
    const t = p.stack.transports[0]!;
    const ours = mk(t.host, t.port);
    expect(core.relayStray(p.stack, ours)).toBe(true);
    expect(ours.vias()).toHaveLength(1);
    expect(core.relayStray(p.stack, mk('192.0.2.5', 5060))).toBe(false);
  });
});
