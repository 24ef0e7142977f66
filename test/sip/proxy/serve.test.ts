/**
 * The proxy core's onError hook around a role's request handler (ProxyCore.serve): the one place
 * where a role's policy turns a failure into an answer (a shared store out of reach: 503 with
 * Retry-After), over real stacks. What the policy does not map goes on to the stack (500).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRequest, createSipStack, createUdpTransport, type SipStack } from '../../../src/sip/index.js';
import { ProxyCore, type RequestHandler } from '../../../src/sip/proxy/core.js';
import { OwnAddresses } from '../../../src/sip/proxy/own-addresses.js';
import type { ErrorAnswer } from '../../../src/sip/proxy/hooks.js';
import { RedisUnavailableError } from '../../../src/store/redis/client.js';
import { redisUnavailableAnswer } from '../../../src/store/redis/unavailable-answer.js';

const TIMERS = { T1: 50, T2: 200, T4: 250 };
const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

class Busy extends Error {}

async function served(handle: RequestHandler, onError?: (e: unknown) => ErrorAnswer | void) {
  const seen: unknown[] = [];
  const reported: unknown[] = [];
  const transport = await createUdpTransport();
  const core = new ProxyCore({
    own: new OwnAddresses().add(transport.host, transport.port),
    agent: 'sbc.lab',
    ...(onError ? { hooks: { onError: (e: unknown) => { seen.push(e); return onError(e); } } } : {}),
  });
  const stack = createSipStack({ transports: [transport], timers: TIMERS, onRequest: core.serve(handle), onHandlerError: (e) => reported.push(e) });
  stacks.push(stack);
  return { port: transport.port, seen, reported };
}

async function send(port: number, method = 'OPTIONS', callId = 'c1') {
  const stack = createSipStack({ transports: [await createUdpTransport()], timers: TIMERS, onRequest: () => undefined });
  stacks.push(stack);
  const req = createRequest(method, `sip:x@127.0.0.1:${port}`, [['From', '<sip:a@lab>;tag=a'], ['To', '<sip:x@lab>'], ['Call-ID', callId], ['CSeq', `1 ${method}`]]);
  return stack.send(req, { destination: { address: '127.0.0.1', port } });
}

describe('ProxyCore.serve: the onError hook answers for the role', () => {
  it('an error the policy maps (async or thrown at once) is answered as it says, with Retry-After and Warning; the stack reports nothing', async () => {
    const asyncFail = await served(async () => { await Promise.resolve(); throw new Busy('store down'); }, (e) => (e instanceof Busy ? { status: 503, retryAfter: 7, warning: 'shared state unavailable' } : undefined));
    const res = await send(asyncFail.port);
    expect(res.status).toBe(503);
    expect(res.get('Retry-After')).toBe('7');
    expect(res.get('Warning')).toBe('399 sbc.lab "shared state unavailable"');
    expect(asyncFail.seen).toHaveLength(1);
    expect(asyncFail.reported).toHaveLength(0);

    const syncFail = await served(() => { throw new Busy('at once'); }, (e) => (e instanceof Busy ? { status: 503, retryAfter: 2 } : undefined));
    const res2 = await send(syncFail.port, 'INVITE', 'c2');
    expect(res2.status).toBe(503);
    expect(res2.get('Retry-After')).toBe('2');
  });

  it('an error the policy does not map goes on to the stack: 500, and reported', async () => {
    const s = await served(async () => { throw new Error('a bug'); }, (e) => (e instanceof Busy ? { status: 503 } : undefined));
    const res = await send(s.port);
    expect(res.status).toBe(500);
    expect(res.get('Retry-After')).toBeUndefined();
    expect(s.seen).toHaveLength(1);
    expect(s.reported).toHaveLength(1);
  });

  it('a handler that already answered is not answered twice; one that succeeds never reaches the hook', async () => {
    const answered = await served(async (_r, ctx) => { ctx.respond(200, undefined, { toTag: 't' }); throw new Busy('after'); }, () => ({ status: 503 }));
    expect((await send(answered.port)).status).toBe(200);
    const fine = await served(async (_r, ctx) => { ctx.respond(202, undefined, { toTag: 't' }); }, () => ({ status: 503 }));
    expect((await send(fine.port, 'MESSAGE', 'c3')).status).toBe(202);
    expect(fine.seen).toHaveLength(0);
  });

  it("the Redis policy the SBC and softswitch give: Redis unreachable is 503 with Redis's Retry-After, anything else is not mapped", async () => {
    const down = new RedisUnavailableError('not connected');
    expect(redisUnavailableAnswer(down)).toEqual({ status: 503, retryAfter: down.retryAfterSeconds });
    expect(redisUnavailableAnswer(new Error('x'))).toBeUndefined();
    const s = await served(async () => { throw down; }, redisUnavailableAnswer);
    const res = await send(s.port, 'REGISTER', 'c4');
    expect(res.status).toBe(503);
    expect(Number(res.get('Retry-After'))).toBe(down.retryAfterSeconds);
  });

  it('without the hook the handler is served as it is', async () => {
    const handle: RequestHandler = () => undefined;
    const core = new ProxyCore({ own: new OwnAddresses(), agent: 'x' });
    expect(core.serve(handle)).toBe(handle);
  });
});
