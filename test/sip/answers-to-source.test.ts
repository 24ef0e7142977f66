/**
 * Where the stack's answers go (issue 8 items 5 and 10): a request that failed to parse is
 * answered 400 to the packet's source only, over UDP and over a stream; nothing in a Via
 * (another host, another port, a name to resolve) sends an answer anywhere else.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import {
  createSipStack, createTcpTransport, createUdpTransport, createResponse, parseMessage, findMessageLength,
  type SipStack, type SipResponse, type SipRequest,
} from '../../src/sip/index.js';
import { malformedRequests } from './malformed-requests.js';

const stacks: SipStack[] = [];
const sockets: Array<{ close(): void }> = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

async function server(onRequest: (req: SipRequest, ctx: Parameters<Parameters<typeof createSipStack>[0]['onRequest']>[1]) => void = (_r, ctx) => ctx.respond(200)) {
  const stack = createSipStack({ transports: [await createUdpTransport(), await createTcpTransport()], onRequest, timers: { T1: 20, T2: 80, T4: 100 } });
  stacks.push(stack);
  return { stack, port: stack.transports[0]!.port, tcpPort: stack.transports[1]!.port };
}

/** A UDP socket that keeps what it receives. */
async function udpSocket(host = '127.0.0.1'): Promise<{ port: number; got: Buffer[]; send(b: string, port: number): void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  sockets.push(s);
  const got: Buffer[] = [];
  s.on('message', (b) => got.push(b));
  return { port: s.address().port, got, send: (b, port) => s.send(Buffer.from(b.replace(/\r?\n/g, '\r\n')), port, '127.0.0.1') };
}

const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));
const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};
const response = (b: Buffer): SipResponse => {
  const r = parseMessage(b);
  if (!r.ok || !r.message.isResponse()) throw new Error('not a response');
  return r.message as SipResponse;
};

function request(o: { line?: string; via: string; extra?: string[]; maxForwards?: string }): string {
  return [
    o.line ?? 'OPTIONS sip:x@127.0.0.1 SIP/2.0',
    `Via: ${o.via}`,
    'To: <sip:x@lab.example>',
    'From: <sip:y@lab.example>;tag=1',
    `Call-ID: c-${Math.random()}`,
    `CSeq: 1 ${(o.line ?? 'OPTIONS').split(' ')[0]}`,
    `Max-Forwards: ${o.maxForwards ?? '70'}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** RFC 4475 §3.1.2.8–10 and two limits; each must come back 400. */
const MALFORMED = malformedRequests(request, { user: 'x' });

describe('answers to requests that failed to parse', () => {
  it.each(MALFORMED)('%s over UDP: 400 to the source', async (_name, make) => {
    const { port } = await server();
    const a = await udpSocket();
    a.send(make(`SIP/2.0/UDP 127.0.0.1:${a.port};branch=z9hG4bKm1`), port);
    await until(() => a.got.length > 0);
    const res = response(a.got[0]!);
    expect(res.status).toBe(400);
    expect(res.topVia()!.params.branch).toBe('z9hG4bKm1');
  });

  it.each(MALFORMED)('%s over TCP: 400 on the connection', async (_name, make) => {
    const { tcpPort } = await server();
    const sock = net.connect(tcpPort, '127.0.0.1');
    sockets.push({ close: () => sock.destroy() });
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    await new Promise((r) => sock.once('connect', r));
    sock.write(make(`SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bKm2`));
    await until(() => findMessageLength(buf).kind === 'message');
    const res = response(buf);
    expect(res.status).toBe(400);
    expect(res.topVia()!.params.branch).toBe('z9hG4bKm2');
  });

  it('a Via naming another host and port: the 400 goes to the source, the named one gets nothing', async () => {
    const { stack, port } = await server();
    const a = await udpSocket('127.0.0.1');
    const victim = await udpSocket('127.0.0.2');
    a.send(request({ via: `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKr1`, maxForwards: 'lots' }), port);
    await until(() => a.got.length > 0);
    await settle();
    expect(response(a.got[0]!).status).toBe(400);
    expect(victim.got).toHaveLength(0);
    expect(stack.stats().badRequestsAnswered).toBe(1);
  });

  it('a Via naming a host by name: the answer goes to the source, the name is not used', async () => {
    const { port } = await server();
    const a = await udpSocket('127.0.0.1');
    // `localhost` resolves to 127.0.0.1: were the name looked up and used, the listener would get the 400
    const named = await udpSocket('127.0.0.1');
    a.send(request({ via: `SIP/2.0/UDP localhost:${named.port};branch=z9hG4bKr2`, maxForwards: 'lots' }), port);
    await until(() => a.got.length > 0);
    await settle();
    expect(response(a.got[0]!).status).toBe(400);
    expect(named.got).toHaveLength(0);
  });
});

describe('answers to requests that parsed', () => {
  it('over UDP go to the source address and port, whether or not the Via asked for rport', async () => {
    const { port } = await server();
    const a = await udpSocket('127.0.0.1');
    const other = await udpSocket('127.0.0.1');
    const victim = await udpSocket('127.0.0.2');
    a.send(request({ via: `SIP/2.0/UDP 127.0.0.1:${other.port};branch=z9hG4bKp1` }), port);
    a.send(request({ via: `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKp2` }), port);
    a.send(request({ via: `SIP/2.0/UDP localhost:${other.port};branch=z9hG4bKp3` }), port);
    await until(() => a.got.length >= 3);
    await settle();
    expect(a.got.map((b) => response(b).status)).toEqual([200, 200, 200]);
    expect(other.got).toHaveLength(0);
    expect(victim.got).toHaveLength(0);
  });

  it('a stateless response whose Via names a host by name is refused, not resolved', async () => {
    const { stack } = await server();
    const a = await udpSocket('127.0.0.1');
    const parsed = parseMessage(Buffer.from(request({ via: `SIP/2.0/UDP localhost:${a.port};branch=z9hG4bKs1` })));
    if (!parsed.ok) throw new Error('request did not parse');
    const req = parsed.message as SipRequest;
    await expect(stack.sendStateless(createResponse(req, 200))).rejects.toThrow(/no address/);
    await settle(100);
    expect(a.got).toHaveLength(0);
  });
});
