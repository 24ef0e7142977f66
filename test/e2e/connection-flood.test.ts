/**
 * Issue 8 item 6 (connection exhaustion) against `keyswitch up`, with numbers kept small:
 * the per-source cap is set to 20 and each attack opens 70 connections from one source
 * (the full-size flood is `npm run bench:flood`). Slowloris over TCP, and half-open TLS on
 * the TLS and TLS-PSK ports: the connections past the cap are closed as they come, the
 * rest at the message or handshake deadline, however slowly they keep sending. Meanwhile
 * the provisioning API answers and legitimate terminals register over TCP, TLS and
 * TLS-PSK from another address. A connection that registered nothing is closed when idle;
 * a registered terminal's flow stays and takes a call.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSip } from '../../src/terminal/register.js';
import { runTerminalAnswer, runTerminalCall } from '../../src/cli/terminal-call.js';
import { startUp, type Up } from '../helpers/up.js';

const CAP = 20;
const OVER = 50;

interface Conn {
  sock: net.Socket;
  connected: boolean;
  closed: boolean;
  sent: number;
  data: string;
}
const all: Conn[] = [];

function connect(port: number, localAddress: string): Conn {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress });
  const c: Conn = { sock, connected: false, closed: false, sent: 0, data: '' };
  sock.on('connect', () => (c.connected = true));
  sock.on('data', (d) => (c.data += d.toString('latin1')));
  sock.on('error', () => undefined);
  sock.on('close', () => (c.closed = true));
  all.push(c);
  return c;
}

/** Writes one byte of `bytes` to every open connection every `everyMs`. */
function trickle(conns: Conn[], bytes: Buffer, everyMs: number): () => void {
  const t = setInterval(() => {
    for (const c of conns) {
      if (c.connected && !c.closed && c.sent < bytes.length) c.sock.write(bytes.subarray(c.sent, ++c.sent));
    }
  }, everyMs);
  return () => clearInterval(t);
}

const until = async (cond: () => boolean, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 20));
  }
};

const REGISTER = Buffer.from([
  'REGISTER sip:sbc1.lab.example SIP/2.0',
  'Via: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bKslowloris',
  'To: <sip:mallory@lab.example>',
  'From: <sip:mallory@lab.example>;tag=s1',
  'Call-ID: slowloris',
  'CSeq: 1 REGISTER',
  'Max-Forwards: 70',
  'Contact: <sip:mallory@127.0.0.2;transport=tcp>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n'));

describe('keyswitch up under connection floods', () => {
  let up: Up;
  let p: Record<string, number>;
  const keys: Record<string, Buffer> = {};

  beforeAll(async () => {
    up = await startUp({
      terminals: ['alice@lab.example', 'bob@lab.example'],
      prefix: 'ks-flood-',
      env: {
        KEYSWITCH_SBC_MAX_CONNECTIONS_PER_SOURCE: String(CAP),
        KEYSWITCH_SBC_HANDSHAKE_TIMEOUT_MS: '1500',
        KEYSWITCH_SBC_MESSAGE_TIMEOUT_MS: '1500',
        KEYSWITCH_SBC_IDLE_SECONDS: '2',
      },
    });
    p = up.ports;
    for (const [idc, hex] of Object.entries(up.keys)) keys[idc] = Buffer.from(hex, 'hex');
  });
  afterAll(async () => {
    for (const c of all) c.sock.destroy();
    await up?.stop();
  });

  const healthy = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${p.api}/healthz`)).ok;
  const register = (mechs: string, transport: 'udp' | 'tcp', extra: { tls?: { ca: string } } = {}) =>
    registerSip({ idc: 'alice@lab.example', kc: keys['alice@lab.example']!, mechs, transport, sbc: { host: '127.0.0.1', port: p.sbcSip! }, ...extra });

  it(`slowloris over TCP: past ${CAP} from one source refused, the rest cut at the message deadline; the API and a TCP terminal still work`, async () => {
    const conns = Array.from({ length: CAP + OVER }, () => connect(p.sbcSip!, '127.0.0.2'));
    const stop = trickle(conns, REGISTER, 100);
    try {
      await until(() => conns.filter((c) => c.closed).length >= OVER);
      expect(await healthy()).toBe(true);
      expect(await register('app-hmac;q=0.5', 'tcp')).toMatchObject({ ok: true, mechanism: 'app-hmac' });
      // the ones let in are cut while still trickling: bytes do not extend the deadline
      await until(() => conns.every((c) => c.closed));
      expect(conns.filter((c) => c.sent >= REGISTER.length)).toHaveLength(0);
      expect(conns.some((c) => c.data.length > 0)).toBe(false);
    } finally {
      stop();
    }
  });

  it.each([
    ['TLS', 'sbcTls', 'tls;q=0.5'],
    ['TLS-PSK', 'sbcPsk', 'tls-psk;q=0.5'],
  ] as const)(`half-open %s from one source: past ${CAP} refused, the rest closed at the handshake deadline; a terminal still registers with it`, async (_name, port, mechs) => {
    const conns = Array.from({ length: CAP + OVER }, () => connect(p[port]!, '127.0.0.3'));
    await until(() => conns.filter((c) => c.closed).length >= OVER);
    expect(await healthy()).toBe(true);
    const ca = readFileSync(join(up.dir, 'data', 'sbc-cert.pem'), 'utf8');
    expect(await register(mechs, 'udp', mechs.startsWith('tls;') ? { tls: { ca } } : {})).toMatchObject({ ok: true, mechanism: mechs.split(';')[0] });
    // nothing was ever sent on them: the handshake deadline, not an idle timer of minutes, closes them
    await until(() => conns.every((c) => c.closed));
  });

  it('a connection that registered nothing is closed when idle; a registered flow stays and takes a call', async () => {
    const lines: string[] = [];
    const answering = runTerminalAnswer({ proto: 'sip', id: 'bob@lab.example', key: keys['bob@lab.example']!.toString('hex'), sbc: `127.0.0.1:${p.sbcSip}`, mechs: 'tls-psk;q=0.5', calls: 1, timeout: 60, out: (l) => lines.push(l) });
    await until(() => lines.some((l) => l.includes('"registered"')));
    const passerBy = connect(p.sbcSip!, '127.0.0.4');
    await until(() => passerBy.connected);
    passerBy.sock.write(REGISTER.toString().replace('slowloris', 'passer-by').replace('z9hG4bKslowloris', 'z9hG4bKpasserby'));
    await until(() => passerBy.data.startsWith('SIP/2.0 '));
    // past the idle timeout (2 s) for connections that registered nothing
    await until(() => passerBy.closed);
    // bob's TLS-PSK flow has been as idle as that, and still carries the INVITE
    const aLines: string[] = [];
    const code = await runTerminalCall({ proto: 'sip', id: 'alice@lab.example', key: keys['alice@lab.example']!.toString('hex'), sbc: `127.0.0.1:${p.sbcSip}`, mechs: 'tls-psk;q=0.5', to: 'bob@lab.example', hold: 0, out: (l) => aLines.push(l) });
    expect(code, aLines.join('\n')).toBe(0);
    expect(await answering).toBe(0);
    expect(lines.map((l) => (JSON.parse(l) as { event: string }).event)).toContain('answered');
  });
});
