/**
 * Issue 8 item 5 (reflection) and the parser part of item 10, against `keyswitch up`.
 * An attacker at 127.0.0.1 sends malformed requests whose Via names a victim socket on
 * 127.0.0.2, or a host by name: the answer must go to the attacker's own socket (or
 * nowhere), never to the victim, and the name must not be used. MGCP and H.248 answers are
 * checked the same way. RFC 4475 lwsruri/lwsstart/trws, 300 headers and a 9,000-character
 * header line are answered 400 to the source, over UDP and TCP. A legitimate terminal
 * registers meanwhile.
 */
import { createSocket, type Socket } from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMessageLength, parseMessage, type SipResponse } from '../../src/sip/index.js';
import { registerSip } from '../../src/terminal/register.js';
import { startUp, type Up } from '../helpers/up.js';
import { malformedRequests } from '../sip/malformed-requests.js';

interface Listener {
  port: number;
  got: Buffer[];
  send(text: string, port: number): void;
}
const sockets: Socket[] = [];
async function listen(host: string): Promise<Listener> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  sockets.push(s);
  const got: Buffer[] = [];
  s.on('message', (b) => got.push(b));
  return { port: s.address().port, got, send: (text, port) => s.send(Buffer.from(text), port, '127.0.0.1') };
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
};
/** Long enough for a misdirected datagram on loopback to have arrived. */
const settle = () => new Promise((r) => setTimeout(r, 300));

function sipResponse(b: Buffer): SipResponse {
  const r = parseMessage(b);
  if (!r.ok || !r.message.isResponse()) throw new Error('not a SIP response');
  return r.message as SipResponse;
}

let n = 0;
function request(o: { line?: string; via: string; extra?: string[]; maxForwards?: string }): string {
  const line = o.line ?? 'OPTIONS sip:sbc1.lab.example SIP/2.0';
  return [
    line,
    `Via: ${o.via}`,
    'To: <sip:alice@lab.example>',
    'From: <sip:mallory@evil.example>;tag=m1',
    `Call-ID: refl-${++n}`,
    `CSeq: 1 ${line.split(' ')[0]}`,
    `Max-Forwards: ${o.maxForwards ?? '70'}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const MALFORMED = malformedRequests(request, { user: 'alice', rfcPrefix: 'RFC 4475 ' });

describe('keyswitch up: answers go to their source only', () => {
  let up: Up;
  let p: Record<string, number>;
  let aliceKey = '';

  beforeAll(async () => {
    up = await startUp({ terminals: ['alice@lab.example'], prefix: 'ks-refl-' });
    p = up.ports;
    aliceKey = up.keys['alice@lab.example']!;
  });
  afterAll(async () => {
    for (const s of sockets.splice(0)) s.close();
    await up?.stop();
  });

  it('a malformed request whose Via names another host: the 400 goes to the sender, nothing to the named host', async () => {
    const attacker = await listen('127.0.0.1');
    const victim = await listen('127.0.0.2');
    attacker.send(request({ via: `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKrefl1`, maxForwards: 'lots' }), p.sbcSip!);
    await until(() => attacker.got.length > 0);
    await settle();
    expect(sipResponse(attacker.got[0]!).status).toBe(400);
    expect(victim.got).toHaveLength(0);
  });

  it('a Via naming a host by name: the answer goes to the sender, not to what the name resolves to', async () => {
    const attacker = await listen('127.0.0.1');
    // `localhost` is 127.0.0.1: had the SBC looked the name up and sent there, this socket would get the answer
    const named = await listen('127.0.0.1');
    attacker.send(request({ via: `SIP/2.0/UDP localhost:${named.port};branch=z9hG4bKrefl2`, maxForwards: 'lots' }), p.sbcSip!);
    attacker.send(request({ via: `SIP/2.0/UDP localhost:${named.port};branch=z9hG4bKrefl3` }), p.sbcSip!);
    await until(() => attacker.got.length >= 2);
    await settle();
    // the malformed one gets 400, the well-formed one whatever the SBC answers an unauthenticated OPTIONS
    expect(attacker.got).toHaveLength(2);
    expect(attacker.got.map((b) => sipResponse(b).status)).toContain(400);
    expect(named.got).toHaveLength(0);
  });

  it('a well-formed request whose Via names another host and port: answered to the sender only', async () => {
    const attacker = await listen('127.0.0.1');
    const victim = await listen('127.0.0.2');
    attacker.send(request({ via: `SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKrefl4` }), p.sbcSip!);
    await until(() => attacker.got.length > 0);
    await settle();
    expect(victim.got).toHaveLength(0);
  });

  it.each(MALFORMED)('%s over UDP: 400 to the sender', async (_name, make) => {
    const attacker = await listen('127.0.0.1');
    const victim = await listen('127.0.0.2');
    attacker.send(make(`SIP/2.0/UDP 127.0.0.2:${victim.port};branch=z9hG4bKm${++n}`), p.sbcSip!);
    await until(() => attacker.got.length > 0);
    await settle();
    expect(sipResponse(attacker.got[0]!).status).toBe(400);
    expect(victim.got).toHaveLength(0);
  });

  it.each(MALFORMED)('%s over TCP: 400 on the connection', async (_name, make) => {
    const sock = net.connect(p.sbcSip!, '127.0.0.1');
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    sock.on('error', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    sock.write(make(`SIP/2.0/TCP 127.0.0.2:5099;branch=z9hG4bKt${++n}`));
    try {
      await until(() => findMessageLength(buf).kind === 'message');
      expect(sipResponse(buf).status).toBe(400);
    } finally {
      sock.destroy();
    }
  });

  it('MGCP: a malformed command naming another call agent is answered to its sender only', async () => {
    const attacker = await listen('127.0.0.1');
    const victim = await listen('127.0.0.2');
    attacker.send(`AUEP 4711 aaln/1@gw.example MGCP 1.0\r\nN: ca@127.0.0.2:${victim.port}\r\nthis is no parameter\r\n`, p.sbcMgcp!);
    await until(() => attacker.got.length > 0);
    await settle();
    expect(attacker.got[0]!.toString()).toMatch(/^510 4711/);
    expect(victim.got).toHaveLength(0);
  });

  it('H.248: a malformed message naming another mId is answered to its sender only', async () => {
    const attacker = await listen('127.0.0.1');
    const victim = await listen('127.0.0.2');
    attacker.send(`MEGACO/1 [127.0.0.2]:${victim.port}\nTransaction = 1 { Context = - { ServiceChange = ROOT { garbage`, p.sbcH248!);
    await until(() => attacker.got.length > 0);
    await settle();
    expect(attacker.got[0]!.toString()).toMatch(/\b(ER|Error)\s*=\s*400\b/);
    expect(victim.got).toHaveLength(0);
  });

  it('a legitimate terminal still registers', async () => {
    const r = await registerSip({ idc: 'alice@lab.example', kc: Buffer.from(aliceKey, 'hex'), mechs: 'app-hmac;q=0.5', transport: 'udp', sbc: { host: '127.0.0.1', port: p.sbcSip! } });
    expect(r).toMatchObject({ ok: true, mechanism: 'app-hmac' });
  });
});
