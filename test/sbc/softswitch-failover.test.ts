/**
 * An SBC in front of two softswitches (`sbc.softswitch` a list, docs/scale-out.md):
 * the first answers nothing at all, the second answers everything. New requests
 * fail over to the second and the first is marked down; in-dialog requests whose
 * route names the dead one go to the live one with their Route unchanged; requests
 * from either softswitch are accepted (signed), from a third address not; the
 * first comes back after answering a ping, and a final answer from it is its answer.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { signCoreLink, signingRequests } from '../../src/adapters/sip/core-link.js';
import { createRequest, createSipStack, createUdpTransport, randomToken, type SipRequest, type SipStack } from '../../src/sip/index.js';
import { FAST, IDSP } from './setup.js';

const A = '127.0.0.2';
const B = '127.0.0.3';
const STRANGER = '127.0.0.4';
const key = randomBytes(32);

/** A softswitch stack on `host:port` answering every request with `status` (OPTIONS 200), keeping what it got. */
async function fakeSoftswitch(host: string, port: number, status: number): Promise<{ stack: SipStack; seen: SipRequest[] }> {
  const seen: SipRequest[] = [];
  const t = await createUdpTransport({ host, port });
  const plain = createSipStack({
    transports: [t], timers: FAST,
    onRequest: (req, ctx) => {
      seen.push(req);
      if (req.method === 'ACK') return;
      const code = req.method === 'OPTIONS' ? 200 : status;
      ctx.respond(code, undefined, { toTag: 'ss', headers: req.method === 'INVITE' ? [['Contact', `<sip:bob@${host}:${t.port}>`]] : [] });
    },
  });
  return { stack: signingRequests(plain, (r) => signCoreLink(r, key)), seen };
}

/** What a silent softswitch got (OPTIONS pings left out), by method and Call-ID. */
function silentSoftswitch(): Promise<{ sock: Socket; port: number; got: Array<{ method: string; callId: string }> }> {
  const got: Array<{ method: string; callId: string }> = [];
  const sock = createSocket('udp4');
  sock.on('message', (m) => {
    const text = m.toString('latin1');
    const method = /^([A-Z]+) /.exec(text)?.[1] ?? '';
    const callId = /\r\n(?:Call-ID|i):\s*([^\r\n]+)/i.exec(text)?.[1]?.trim() ?? '';
    if (method !== 'OPTIONS') got.push({ method, callId });
  });
  return new Promise((resolve) => sock.bind(0, A, () => resolve({ sock, port: sock.address().port, got })));
}

describe('SBC with two softswitches', () => {
  let dir: string;
  let sbc: RunningSbc;
  let silent: Awaited<ReturnType<typeof silentSoftswitch>>;
  let live: Awaited<ReturnType<typeof fakeSoftswitch>>;
  let back: Awaited<ReturnType<typeof fakeSoftswitch>> | undefined;
  let phone: SipStack;
  const phoneTag = randomToken();
  const dialog = { callId: randomToken(), toTag: '' };
  /** A second dialog, set up while A is down and still open when it is back. */
  const kept = { callId: randomToken(), toTag: '' };
  let cseq = 1;

  const send = (method: string, uri: string, headers: Array<[string, string]> = [], callId = randomToken(), toTag?: string) =>
    phone.send(createRequest(method, uri, [
      ['From', `<sip:alice@lab.example>;tag=${phoneTag}`], ['To', `<sip:bob@lab.example>${toTag ? `;tag=${toTag}` : ''}`],
      ['Call-ID', callId], ['CSeq', `${cseq++} ${method}`], ['Max-Forwards', '70'], ['Contact', '<sip:alice@127.0.0.1>'], ...headers,
    ]), { destination: { address: '127.0.0.1', port: sbc.ports.udp!, protocol: 'udp' } });
  const member = (host: string) => sbc.stats().softswitches.members.find((m) => m.address.startsWith(`${host}:`))!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ks-sbc-ss-'));
    silent = await silentSoftswitch();
    live = await fakeSoftswitch(B, 0, 200);
    sbc = await startSbc({
      idsp: IDSP, ksp: randomBytes(32), coreLinkKey: key,
      untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
      softswitch: { host: A, port: silent.port, more: [{ host: B, port: live.stack.transports[0]!.port }], noAnswerMs: 300, probeMs: 200 },
      tls: { dataDir: dir }, timers: FAST,
      signing: { enabled: false },
    });
    phone = createSipStack({ transports: [await createUdpTransport({ host: '127.0.0.1', port: 0 })], timers: FAST, onRequest: () => undefined });
  });

  afterAll(async () => {
    await phone?.close();
    await sbc?.close();
    await live?.stack.close();
    await back?.stack.close();
    if (!back) silent?.sock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a new request the first softswitch does not answer goes to the second, and the first is marked down', async () => {
    const callId = randomToken();
    const res = await send('MESSAGE', 'sip:bob@lab.example', [], callId);
    expect(res.status).toBe(200);
    expect(silent.got.some((g) => g.callId === callId)).toBe(true);
    expect(live.seen.some((r) => r.callId() === callId)).toBe(true);
    expect(member(A).up).toBe(false);
    expect(sbc.stats().softswitches.failovers).toBe(1);

    // down: the next new request goes to the second at once
    const next = randomToken();
    expect((await send('MESSAGE', 'sip:bob@lab.example', [], next)).status).toBe(200);
    expect(silent.got.some((g) => g.callId === next)).toBe(false);
  });

  it('in a dialog whose route names the dead softswitch, requests go to the live one with the Route unchanged', async () => {
    const inv = await send('INVITE', 'sip:bob@lab.example', [], dialog.callId);
    expect(inv.status).toBe(200);
    dialog.toTag = inv.to().params.tag!;
    const route = `<sip:${A}:${silent.port};lr>`;
    // the ACK (stateless) too
    const ackSeq = inv.cseq().seq;
    await phone.sendStateless(createRequest('ACK', `sip:bob@${B}`, [
      ['Via', `SIP/2.0/UDP 127.0.0.1:${phone.transports[0]!.port};branch=z9hG4bK${randomToken()}`],
      ['From', `<sip:alice@lab.example>;tag=${phoneTag}`], ['To', `<sip:bob@lab.example>;tag=${dialog.toTag}`],
      ['Call-ID', dialog.callId], ['CSeq', `${ackSeq} ACK`], ['Max-Forwards', '70'], ['Route', route],
    ]), { destination: { address: '127.0.0.1', port: sbc.ports.udp!, protocol: 'udp' } });
    for (let i = 0; !live.seen.some((r) => r.method === 'ACK' && r.callId() === dialog.callId); i++) {
      if (i > 100) throw new Error('the ACK never reached the live softswitch');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(live.seen.find((r) => r.method === 'ACK' && r.callId() === dialog.callId)?.get('Route')).toBe(route);
    const bye = await send('BYE', `sip:bob@${B}`, [['Route', route]], dialog.callId, dialog.toTag);
    expect(bye.status).toBe(200);
    const got = live.seen.find((r) => r.method === 'BYE' && r.callId() === dialog.callId);
    expect(got?.get('Route')).toBe(route);
    expect(silent.got.some((g) => g.callId === dialog.callId)).toBe(false);
    const second = await send('INVITE', 'sip:bob@lab.example', [], kept.callId);
    expect(second.status).toBe(200);
    kept.toTag = second.to().params.tag!;
  });

  it('requests from either softswitch are accepted; a signed one from another address is not', async () => {
    const options = (from: SipStack) => from.send(createRequest('OPTIONS', `sip:127.0.0.1:${sbc.ports.core}`, [
      ['From', `<sip:${B}>;tag=${randomToken()}`], ['To', `<sip:127.0.0.1:${sbc.ports.core}>`], ['Call-ID', randomToken()], ['CSeq', '1 OPTIONS'], ['Max-Forwards', '70'],
    ]), { destination: { address: '127.0.0.1', port: sbc.ports.core, protocol: 'udp' } });
    expect((await options(live.stack)).status).toBe(200);
    const stranger = await fakeSoftswitch(STRANGER, 0, 200);
    try {
      const res = await options(stranger.stack);
      expect(res.localReason).toBe('timeout');
    } finally {
      await stranger.stack.close();
    }
  });

  it('the first comes back once it answers a ping, and its final answer is the answer (no failover)', async () => {
    silent.sock.close();
    back = await fakeSoftswitch(A, silent.port, 403);
    for (let i = 0; !member(A).up; i++) {
      if (i > 200) throw new Error('softswitch A never marked up');
      await new Promise((r) => setTimeout(r, 50));
    }
    const callId = randomToken();
    expect((await send('MESSAGE', 'sip:bob@lab.example', [], callId)).status).toBe(403);
    expect(back.seen.some((r) => r.callId() === callId)).toBe(true);
    expect(live.seen.some((r) => r.callId() === callId)).toBe(false);
    // a dialog goes to the softswitch its route names while that one is alive, not to the first
    const route = `<sip:${B}:${live.stack.transports[0]!.port};lr>`;
    expect((await send('INFO', `sip:bob@${B}`, [['Route', route]], kept.callId, kept.toTag)).status).toBe(200);
    expect(live.seen.some((r) => r.method === 'INFO' && r.callId() === kept.callId)).toBe(true);
    expect(back.seen.some((r) => r.callId() === kept.callId)).toBe(false);
  });
});
