/**
 * A TLS handshake kept alive by trickling (docs/security.md, "Half-open TLS and TLS-PSK
 * handshakes"; docs/sbc.md, "Connections"): from another address, an attacker sends the
 * bytes of a real ClientHello one at a time, every 150 ms, to the TLS and the TLS-PSK port;
 * or sends its ClientHello at once, reads the SBC's answer, and trickles its second flight
 * (key exchange, Finished) the same way. The handshake must be done handshakeTimeoutMs after
 * the connection was accepted, however the bytes keep coming: the SBC closes it at that deadline and counts it. Meanwhile a
 * terminal registers over that port from 127.0.0.1. Real SBC, real softswitch, real AuC over
 * the embedded store, the handshake deadline set to 1 s.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSbc } from '../../src/sbc/run.js';
import { PSK_CIPHERS } from '../../src/sip/transport/tls.js';
import { registerSip } from '../../src/terminal/register.js';
import { startRealCore, type RealCore } from './real-core.js';
import { FAST, IDSP } from './setup.js';

const HANDSHAKE_MS = 1000;
const TRICKLE_MS = 150;
const ATTACKER = '127.0.0.3';
const TERMINAL = 'tls-terminal@lab.example';

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error('timed out waiting');
}

/** The first flight of a real client (its ClientHello record), taken from a listener that only records. */
function captureClientHello(o: tls.ConnectionOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const rec = net.createServer((s) => {
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          s.destroy();
          rec.close();
          resolve(buf);
        }
      });
    });
    rec.once('error', reject);
    rec.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ ...o, host: '127.0.0.1', port: (rec.address() as net.AddressInfo).port });
      c.on('error', () => undefined);
      rec.once('close', () => c.destroy());
    });
  });
}

interface Trickler {
  closed(): boolean;
  /** ClientHello bytes written when the SBC closed the connection. */
  sent(): number;
  answered(): number;
  stop(): void;
}

/** Connects from ATTACKER and writes `hello` one byte every TRICKLE_MS until the SBC closes. */
function trickle(port: number, hello: Buffer): Trickler {
  const sock = net.connect({ host: '127.0.0.1', port, localAddress: ATTACKER });
  let sent = 0;
  let answered = 0;
  sock.on('data', (d: Buffer) => (answered += d.length));
  sock.on('error', () => undefined);
  const timer = setInterval(() => {
    if (sock.readyState === 'open' && sent < hello.length) sock.write(hello.subarray(sent, ++sent));
  }, TRICKLE_MS);
  let closed = false;
  sock.once('close', () => {
    closed = true;
    clearInterval(timer);
  });
  return { closed: () => closed, sent: () => sent, answered: () => answered, stop: () => (clearInterval(timer), sock.destroy()) };
}

/**
 * A real TLS client from ATTACKER whose first flight goes out whole and whose later bytes
 * (the second flight) go out one every TRICKLE_MS, until the SBC closes.
 */
function trickleSecondFlight(port: number, o: tls.ConnectionOptions): Trickler & { secondFlight(): number } {
  const sock = net.connect({ host: '127.0.0.1', port, localAddress: ATTACKER });
  let flights = 0;
  let queued = Buffer.alloc(0);
  let trickled = 0;
  let answered = 0;
  const wire = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      if (flights++ === 0) sock.write(chunk);
      else queued = Buffer.concat([queued, chunk]);
      done();
    },
  });
  sock.on('data', (d: Buffer) => {
    answered += d.length;
    wire.push(d);
  });
  sock.on('error', () => undefined);
  const timer = setInterval(() => {
    if (sock.readyState === 'open' && trickled < queued.length) sock.write(queued.subarray(trickled, ++trickled));
  }, TRICKLE_MS);
  const client = tls.connect({ ...o, socket: wire });
  client.on('error', () => undefined);
  let closed = false;
  sock.once('close', () => {
    closed = true;
    clearInterval(timer);
    wire.push(null);
  });
  return {
    closed: () => closed,
    sent: () => trickled,
    answered: () => answered,
    secondFlight: () => queued.length,
    stop: () => (clearInterval(timer), client.destroy(), sock.destroy()),
  };
}

describe('a TLS handshake trickled a byte at a time', () => {
  let core: RealCore;
  let sbc: RunningSbc;
  let ca: string;
  let kc: Buffer;
  const tricklers: Trickler[] = [];

  beforeAll(async () => {
    core = await startRealCore({ name: 'tls-trickle', connections: { handshakeTimeoutMs: HANDSHAKE_MS } });
    ({ sbc, ca } = core);
    kc = randomBytes(32);
    await core.store.terminals.create(TERMINAL, kc, 'x');
  });
  afterAll(async () => {
    for (const t of tricklers) t.stop();
    await core?.close();
  });

  it.each([
    ['TLS', 'tls', 'tls;q=0.5'],
    ['TLS-PSK', 'tlsPsk', 'tls-psk;q=0.5'],
  ] as const)('%s: closed at the handshake deadline although bytes kept coming; a terminal registers over it meanwhile', async (_name, port, mechs) => {
    const p = sbc.ports[port]!;
    const counters = () => sbc.stats().transports[`tls:${p}`]!;
    const hello = await captureClientHello(port === 'tls'
      ? { servername: IDSP, ca }
      : { ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2', pskCallback: () => ({ identity: TERMINAL, psk: kc }), checkServerIdentity: () => undefined });
    const before = counters();

    const t = trickle(p, hello);
    tricklers.push(t);
    const registered = registerSip({ idc: TERMINAL, kc, mechs, transport: 'udp', sbc: { host: '127.0.0.1', port: sbc.ports.udp! }, tls: { ca, servername: IDSP }, timers: FAST });

    expect(await registered).toMatchObject({ ok: true, mechanism: mechs.split(';')[0] });
    await until(t.closed);
    // closed by the SBC mid-ClientHello, never answered, while the trickle was still going
    expect(t.sent()).toBeGreaterThan(1);
    expect(t.sent()).toBeLessThan(hello.length);
    expect(t.answered()).toBe(0);
    expect(counters().handshakeTimeouts).toBe(before.handshakeTimeouts! + 1);
    // its place under the caps is given back (the terminal has hung up too)
    await until(() => counters().open === before.open);
  });
  it.each([
    ['TLS', 'tls', 'tls;q=0.5'],
    ['TLS-PSK', 'tlsPsk', 'tls-psk;q=0.5'],
  ] as const)('%s: the second flight trickled after the SBC answered is closed at the same deadline; a terminal registers meanwhile', async (_name, port, mechs) => {
    const p = sbc.ports[port]!;
    const counters = () => sbc.stats().transports[`tls:${p}`]!;
    const before = counters();

    const t = trickleSecondFlight(p, port === 'tls'
      ? { servername: IDSP, ca }
      : { ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2', pskCallback: () => ({ identity: TERMINAL, psk: kc }), checkServerIdentity: () => undefined });
    tricklers.push(t);
    const registered = registerSip({ idc: TERMINAL, kc, mechs, transport: 'udp', sbc: { host: '127.0.0.1', port: sbc.ports.udp! }, tls: { ca, servername: IDSP }, timers: FAST });

    expect(await registered).toMatchObject({ ok: true, mechanism: mechs.split(';')[0] });
    await until(t.closed);
    // the SBC had answered the ClientHello; its close came mid-way through the second flight
    expect(t.answered()).toBeGreaterThan(0);
    expect(t.sent()).toBeGreaterThan(1);
    expect(t.sent()).toBeLessThan(t.secondFlight());
    expect(counters().handshakeTimeouts).toBe(before.handshakeTimeouts! + 1);
    await until(() => counters().open === before.open);
  });
});
