/**
 * A completed non-INVITE transaction waits out Timer K (client, T4) or Timer J
 * (server, 64·T1) over UDP only to absorb retransmissions: it must not keep the
 * messages it carried that long. Under load (bench:compare, 800 REGISTERs/s)
 * the client side held each forwarded request, and through the stack's
 * callbacks the whole relay that sent it, for 5 s; the server side's key, cut
 * from the Via's branch, held the request's whole header text for 32 s.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { createRequest, createSipStack, createUdpTransport, type SipStack } from '../../src/sip/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

const PAD = 'x'.repeat(8000);

it('completed UDP transactions waiting out Timers K and J hold no request', async () => {
  // the timers long enough that every transaction is still waiting when the heap is read
  const timers = { T1: 2000, T2: 4000, T4: 60_000 };
  const server = createSipStack({ transports: [await createUdpTransport()], timers, onRequest: (_req, ctx) => void ctx.respond(200, undefined, { toTag: 'x' }) });
  const client = createSipStack({ transports: [await createUdpTransport()], timers, onRequest: () => undefined });
  stacks.push(server, client);
  const port = server.transports[0]!.port;
  const n = 150;
  const send = async (i: number) => {
    const req = createRequest('REGISTER', `sip:127.0.0.1:${port}`, [
      ['To', `<sip:u${i}@lab.example>`],
      ['From', `<sip:u${i}@lab.example>;tag=f${i}`],
      ['Call-ID', `mem-${i}`],
      ['CSeq', '1 REGISTER'],
      ['X-Pad-1', PAD],
      ['X-Pad-2', PAD],
    ]);
    expect((await client.send(req)).status).toBe(200);
  };
  await send(0);
  // the heap and the buffers: a request's bytes, kept for retransmission, live outside the heap
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  gc();
  const before = used();
  for (let i = 1; i <= n; i++) await send(i);
  gc();
  gc();
  const grown = used() - before;
  // every transaction is still there, absorbing retransmissions
  expect(client.stats().clientTransactions).toBe(n + 1);
  expect(server.stats().serverTransactions).toBe(n + 1);
  // the requests were 150 × 16 KB of headers: held by either side alone, 2.4 MB. What the 300 transactions
  // need (keys, timers, the answer's bytes) measures 0.75–1.25 MB from run to run, so the bound sits between.
  expect(grown).toBeLessThan(2 * 1024 * 1024);
});
