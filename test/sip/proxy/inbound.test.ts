/**
 * The stack's one interception point (`onInbound`, src/sip/proxy/hooks.ts): it sees each
 * message with its source before the transaction layer. A drop leaves no transaction (the
 * next copy is seen again), a reject answers the source only with Retry-After, a pass goes on,
 * and every message carries where it came from.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { createSipStack, createUdpTransport, parseMessage, type SipMessage, type SipResponse, type SipStack } from '../../../src/sip/index.js';
import type { InboundVerdict, MessageSource } from '../../../src/sip/proxy/hooks.js';

const stacks: SipStack[] = [];
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};

async function peer(host: string) {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  sockets.push(s);
  const got: SipResponse[] = [];
  s.on('message', (b) => {
    const p = parseMessage(b);
    if (p.ok && p.message.isResponse()) got.push(p.message as SipResponse);
  });
  return { port: s.address().port, got, send: (text: string, port: number) => s.send(Buffer.from(text), port, '127.0.0.1') };
}

const options = (port: number, branch: string): string => [
  'OPTIONS sip:x@127.0.0.1 SIP/2.0',
  // the Via names another host and port: an answer must still go to the packet's source
  `Via: SIP/2.0/UDP 192.0.2.9:5999;branch=${branch}`,
  'Max-Forwards: 70',
  'From: <sip:a@lab.example>;tag=a1',
  'To: <sip:x@lab.example>',
  `Call-ID: c-${branch}-${port}`,
  'CSeq: 1 OPTIONS',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

describe('onInbound', () => {
  it('drops, rejects (to the source, with Retry-After) or passes, before any transaction; messages carry their source', async () => {
    const seen: Array<{ method: string; from: MessageSource | undefined; src: MessageSource }> = [];
    let verdict: InboundVerdict = { kind: 'drop', reason: 'test' };
    const handled: string[] = [];
    const stack = createSipStack({
      transports: [await createUdpTransport()],
      onInbound: (m: SipMessage, src) => {
        seen.push({ method: m.isRequest() ? m.method : 'response', from: m.receivedFrom, src });
        return verdict;
      },
      onRequest: (req, ctx) => {
        handled.push(req.callId());
        expect(req.receivedFrom).toBe(ctx.source);
        ctx.respond(200);
      },
    });
    stacks.push(stack);
    const port = stack.transports[0]!.port;
    const a = await peer('127.0.0.1');
    a.send(options(a.port, 'z9hG4bKin1'), port);
    await until(() => seen.length === 1);
    expect(seen[0]!.from).toBe(seen[0]!.src);
    expect(seen[0]!.src.port).toBe(a.port);
    expect(seen[0]!.src.protocol).toBe('udp');

    verdict = { kind: 'reject', status: 503, reason: 'Overloaded', retryAfter: 7 };
    a.send(options(a.port, 'z9hG4bKin1'), port);
    await until(() => a.got.length === 1);
    expect(a.got[0]!.status).toBe(503);
    expect(a.got[0]!.reason).toBe('Overloaded');
    expect(a.got[0]!.get('Retry-After')).toBe('7');

    verdict = { kind: 'pass' };
    a.send(options(a.port, 'z9hG4bKin1'), port);
    await until(() => a.got.length === 2);
    expect(a.got[1]!.status).toBe(200);
    expect(handled).toHaveLength(1);
    expect(stack.stats().inboundRefused).toBe(2);
    // neither refusal left a transaction behind that absorbed the copy that passed
    expect(stack.stats().retransmissionsAbsorbed).toBe(0);
  });

  it('a rejected response is dropped, never answered', async () => {
    const stack = createSipStack({
      transports: [await createUdpTransport()],
      onInbound: () => ({ kind: 'reject', status: 503, reason: 'no' }),
      onRequest: () => undefined,
    });
    stacks.push(stack);
    const a = await peer('127.0.0.1');
    const res = ['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKr1', 'From: <sip:a@x>;tag=1', 'To: <sip:b@x>;tag=2', 'Call-ID: r1', 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n');
    a.send(res, stack.transports[0]!.port);
    await until(() => stack.stats().inboundRefused === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.got).toEqual([]);
    expect(stack.stats().strayResponses).toBe(0);
  });

  it('onMalformed sees what did not parse: a drop leaves it unanswered, a pass lets the stack answer 400', async () => {
    let verdict: InboundVerdict = { kind: 'drop', reason: 'ids' };
    const seen: string[] = [];
    const stack = createSipStack({
      transports: [await createUdpTransport()],
      onMalformed: (e) => {
        seen.push(e.header);
        return verdict;
      },
      onRequest: () => undefined,
    });
    stacks.push(stack);
    const a = await peer('127.0.0.1');
    const bad = (branch: string) => options(a.port, branch).replace('Max-Forwards: 70', 'Max-Forwards: many');
    a.send(bad('z9hG4bKm1'), stack.transports[0]!.port);
    await until(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.got).toEqual([]);
    verdict = { kind: 'pass' };
    a.send(bad('z9hG4bKm2'), stack.transports[0]!.port);
    await until(() => a.got.length === 1);
    expect(a.got[0]!.status).toBe(400);
    expect(seen).toEqual(['Max-Forwards', 'Max-Forwards']);
  });
});
