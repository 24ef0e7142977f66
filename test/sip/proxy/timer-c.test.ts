/**
 * Timer C of the proxy core's INVITE relay (RFC 3261 §16.6 step 11, §16.7 step 2, §16.8), over
 * real stacks with a short configured value: a next hop that rings and then says nothing more
 * is cancelled and the caller gets a final answer; one that keeps sending provisionals is
 * waited for, each provisional starting Timer C again. No timing is asserted beyond "before a
 * generous deadline".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRequest, createSipStack, createUdpTransport, type ServerContext, type SipRequest, type SipStack } from '../../../src/sip/index.js';
import { ProxyCore } from '../../../src/sip/proxy/core.js';
import { OwnAddresses } from '../../../src/sip/proxy/own-addresses.js';

const TIMERS = { T1: 50, T2: 200, T4: 250 };
const stacks: SipStack[] = [];
const pending: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of pending.splice(0)) clearTimeout(t);
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

async function stackOn(onRequest: (r: SipRequest, c: ServerContext) => void | Promise<void>): Promise<SipStack> {
  const s = createSipStack({ transports: [await createUdpTransport()], timers: TIMERS, onRequest });
  stacks.push(s);
  return s;
}

/** A next hop that answers an INVITE with 180 and then whatever `then` does; CANCELs are counted, never answered with a final. */
async function callee(then: (ctx: ServerContext) => void = () => undefined) {
  const got = { invites: 0, cancels: 0 };
  const s = await stackOn((r, ctx) => {
    if (r.method !== 'INVITE') return;
    got.invites++;
    ctx.onCancel(() => got.cancels++);
    ctx.respond(180, undefined, { toTag: 'callee' });
    then(ctx);
  });
  return { port: s.transports[0]!.port, got };
}

/** A proxy relaying every INVITE to `port` with Timer C of `timerCMs`; the outcome is answered upstream. */
async function proxy(port: number, timerCMs: number) {
  let core!: ProxyCore;
  const s = await stackOn(async (r, ctx) => {
    const c = core.check(r);
    if (!c.ok) return void ctx.reply(core.refusal(r, c.status));
    const out = await core.relay({
      stack: s, ctx, fwd: c.fwd, timerCMs,
      branches: [{ requestUri: `sip:bob@127.0.0.1:${port}`, destination: { address: '127.0.0.1', port } }],
      upstream: (res) => ctx.reply(res, { forwarded: true }),
    });
    if (out.kind !== 'failed') return void ctx.reply(out.res, { forwarded: true });
    ctx.reply(out.best?.res ?? core.refusal(r, 480), { forwarded: true });
  });
  core = new ProxyCore({ own: new OwnAddresses().addTransports(s.transports), agent: 'proxy' });
  return s.transports[0]!.port;
}

async function invite(port: number, callId: string) {
  const caller = await stackOn(() => undefined);
  const provisional: number[] = [];
  const req = createRequest('INVITE', `sip:bob@127.0.0.1:${port}`, [
    ['From', '<sip:alice@lab.example>;tag=a1'], ['To', '<sip:bob@lab.example>'], ['Call-ID', callId], ['CSeq', '1 INVITE'],
    ['Contact', `<sip:alice@127.0.0.1:${caller.transports[0]!.port}>`],
  ]);
  const final = caller.send(req, { destination: { address: '127.0.0.1', port }, onResponse: (r) => provisional.push(r.status) });
  return { final, provisional };
}

/** The promise, or a rejection after `ms` (a deadline, not a measurement). */
function before<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => pending.push(setTimeout(() => reject(new Error(`no final answer within ${ms} ms`)), ms)))]);
}

describe('proxy core: Timer C on an INVITE relay', () => {
  it('a next hop that rings and then says nothing: CANCEL to it, and the caller gets 408', async () => {
    const silent = await callee();
    const p = await proxy(silent.port, 300);
    const call = await invite(p, 'timer-c-1');
    const res = await before(call.final, 10_000);
    expect(res.status).toBe(408);
    expect(call.provisional).toContain(180);
    expect(silent.got.invites).toBe(1);
    // the CANCEL left with the 408 (§16.8); its arrival is a datagram away
    const end = Date.now() + 5000;
    while (silent.got.cancels === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(silent.got.cancels).toBe(1);
  });

  it('each provisional other than 100 starts Timer C again: a callee that keeps ringing past it is still answered 200', async () => {
    // 183 every 100 ms for 3 s against Timer C of 2 s, then 200: without the restarts Timer C ends it at 2 s;
    // a stall of the event loop under 1.9 s (a loaded CI machine) does not fire it between two 183s
    const ringing = await callee((ctx) => {
      let n = 0;
      const tick = (): void => {
        if (++n <= 30) {
          ctx.respond(183, undefined, { toTag: 'callee' });
          pending.push(setTimeout(tick, 100));
        } else ctx.respond(200, undefined, { toTag: 'callee' });
      };
      pending.push(setTimeout(tick, 100));
    });
    const p = await proxy(ringing.port, 2000);
    const call = await invite(p, 'timer-c-2');
    const res = await before(call.final, 10_000);
    expect(res.status).toBe(200);
    expect(ringing.got.cancels).toBe(0);
  });
});
