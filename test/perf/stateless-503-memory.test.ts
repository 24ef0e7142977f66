/**
 * Under overload the SBC answers new requests 503 with Retry-After before the
 * transaction layer (src/sbc/overload.ts, docs/sbc.md "Overload"). Each such
 * answer must hold nothing once sent: no server transaction (which would live
 * on for Timer J, 32 s), no remembered branch, no parsed request — or a flood
 * at several times capacity would grow memory with the rate offered instead of
 * the rate served (docs/performance.md, "Overload and memory (session 4)").
 */
import dgram from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { OverloadGate } from '../../src/sbc/overload.js';
import { createSipStack, createUdpTransport, type SipStack } from '../../src/sip/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const tick = () => new Promise((r) => setImmediate(r));

const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

/** A first REGISTER (no credentials): new work, which the gate refuses while the core's queue is full. */
function register(port: number, i: number, pad: string): Buffer {
  return Buffer.from(
    [
      `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-flood-${i}`,
      `From: <sip:u${i}@lab.example>;tag=f${i}`,
      `To: <sip:u${i}@lab.example>`,
      `Call-ID: flood-${i}`,
      'CSeq: 1 REGISTER',
      `Contact: <sip:u${i}@127.0.0.1:9>`,
      `X-Pad: ${pad}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

it('a flood of new requests refused 503 by the overload gate leaves no transaction, no remembered branch and no request behind', async () => {
  let handled = 0;
  const gate = new OverloadGate({ maxPending: 1, lagHighMs: 0, retryAfterSec: 5 }, { pending: () => 1, lagMs: () => 0 }, () => performance.now());
  const server = createSipStack({
    transports: [await createUdpTransport()],
    onInbound: (m, src) => gate.decide(m, src),
    onRequest: () => {
      handled++;
    },
  });
  stacks.push(server);
  const port = server.transports[0]!.port;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let retryAfter = 0;
  sock.on('message', (m) => {
    if (/^SIP\/2\.0 503 /.test(m.toString('latin1')) && /\r\nRetry-After: \d+\r\n/.test(m.toString('latin1'))) retryAfter++;
  });
  const pad = 'p'.repeat(4000);
  const n = 2000;
  try {
    gc();
    const before = process.memoryUsage().heapUsed;
    let sent = 0;
    for (let i = 0; i < n; i++) {
      // one at a time (a datagram lost on a busy machine is sent again): the refusals are what is measured, not the socket
      const wire = register(port, i, pad);
      while (retryAfter <= i) {
        sock.send(wire, port, '127.0.0.1');
        sent++;
        const until = performance.now() + 200;
        while (retryAfter <= i && performance.now() < until) await tick();
      }
    }
    for (let i = 0; i < 3; i++) {
      await tick();
      gc();
    }
    const grown = process.memoryUsage().heapUsed - before;
    expect(retryAfter).toBeGreaterThanOrEqual(n);
    expect(handled).toBe(0);
    expect(server.stats()).toMatchObject({ serverTransactions: 0, clientTransactions: 0, inboundRefused: sent });
    expect(gate.stats()).toMatchObject({ remembered: 0, rejected: { 'new-registration': sent } });
    // 2,000 requests of 4 KB went through: had any of them been kept, that is 8 MB
    expect(grown).toBeLessThan(2 * 1024 * 1024);
  } finally {
    sock.close();
  }
});
