/**
 * A completed non-INVITE server transaction over UDP lives on for Timer J
 * (64*T1, 32 s by default) to absorb retransmissions. Under load that is tens
 * of thousands of transactions per role; each must hold only the response
 * bytes, not the parsed request, response and handler context (~10 KB each
 * before, measured in docs/performance.md "Memory").
 */
import dgram from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import {
  createRequest, createSipStack, createUdpTransport, serialize,
  type ServerTransaction, type SipRequest, type SipStack,
} from '../../src/sip/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const tick = () => new Promise((r) => setImmediate(r));

const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

function register(port: number): SipRequest {
  return createRequest('REGISTER', `sip:127.0.0.1:${port}`, [
    ['To', '<sip:alice@lab.example>'],
    ['From', '<sip:alice@lab.example>;tag=abc'],
    ['Call-ID', 'mem-' + Math.random()],
    ['CSeq', '1 REGISTER'],
    ['Contact', '<sip:alice@127.0.0.1>'],
    ['Via', 'SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-mem-' + Math.random().toString(36).slice(2)],
  ]);
}

it('a completed non-INVITE transaction keeps only the response bytes, and still answers a retransmission', async () => {
  let seen: WeakRef<SipRequest> | undefined;
  let tx: ServerTransaction | undefined;
  let handled = 0;
  // Timer J = 64 s: the transaction is surely still there while we look
  const server = createSipStack({
    transports: [await createUdpTransport()],
    timers: { T1: 1000, T2: 4000, T4: 5000 },
    onRequest: (req, ctx) => {
      handled++;
      seen = new WeakRef(req);
      tx = ctx.transaction;
      ctx.respond(200, undefined, { toTag: 'x', headers: [['Expires', '3600']] });
    },
  });
  stacks.push(server);
  const port = server.transports[0]!.port;

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const answers: Buffer[] = [];
  sock.on('message', (m) => answers.push(m));
  const wire = serialize(register(port));
  const waitAnswers = async (n: number) => {
    while (answers.length < n) await tick();
  };
  try {
    sock.send(wire, port, '127.0.0.1');
    await waitAnswers(1);
    expect(answers[0]!.toString()).toMatch(/^SIP\/2.0 200 /);
    expect(server.stats().serverTransactions).toBe(1);
    expect(tx!.state).toBe('completed');

    for (let i = 0; i < 3; i++) {
      await tick();
      gc();
    }
    // neither the transaction, nor the stack's context for it, nor anything else keeps the request
    expect(seen!.deref()).toBeUndefined();
    expect(tx!.answered).toBe(true);
    expect(tx!.finalResponse).toBeUndefined();
    expect(() => tx!.request).toThrow(/released/);

    // a retransmission is still absorbed and answered with the same bytes
    sock.send(wire, port, '127.0.0.1');
    await waitAnswers(2);
    expect(answers[1]!.equals(answers[0]!)).toBe(true);
    expect(handled).toBe(1);
    expect(server.stats().retransmissionsAbsorbed).toBe(1);
  } finally {
    sock.close();
  }
});

it('an INVITE server transaction keeps its request (CANCEL and the ACK need it)', async () => {
  let tx: ServerTransaction | undefined;
  const server = createSipStack({
    transports: [await createUdpTransport()],
    timers: { T1: 1000, T2: 4000, T4: 5000 },
    onRequest: (_req, ctx) => {
      tx = ctx.transaction;
      ctx.respond(486, undefined, { toTag: 'busy' });
    },
  });
  stacks.push(server);
  const port = server.transports[0]!.port;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const answers: string[] = [];
  sock.on('message', (m) => answers.push(m.toString()));
  try {
    const inv = register(port);
    const wire = serialize(inv).toString().replace(/REGISTER/g, 'INVITE');
    sock.send(wire, port, '127.0.0.1');
    while (!answers.some((a) => a.startsWith('SIP/2.0 486'))) await tick();
    expect(tx!.answered).toBe(true);
    expect(tx!.request.method).toBe('INVITE');
    expect(tx!.finalResponse?.status).toBe(486);
  } finally {
    sock.close();
  }
});
