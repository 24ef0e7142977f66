/**
 * npm run bench:flood [-- --slowloris 2000 --handshakes 1100 --half-open 20000 --sources 100]
 *
 * The connection floods of issue 8 item 6 at full size against `keyswitch up` (one process:
 * SBC, softswitch, AuC and its API), with the default sbc.connections.* settings:
 *   1. 2,000 slowloris TCP connections from one address, then from `--sources` addresses;
 *   2. 1,100 completed TLS handshakes (from several addresses) that then say nothing;
 *   3. 20,000 half-open TLS connections (TCP only, no ClientHello) from several addresses.
 * During each it measures what got in and what was refused, the API's /healthz latency, and
 * whether a legitimate terminal registers (over TCP, TLS, TLS-PSK; TLS-PSK goes through the
 * AuC over RADIUS); after each, how long until the SBC had closed the attackers' connections.
 * It prints the SBC process's RSS and open descriptors at the start, at the peak and once
 * the floods are over. Loopback addresses 127.x.y.z stand in for distinct sources.
 */
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerSip } from '../src/terminal/register.js';
import { ks, startDaemon } from '../test/helpers/cli.js';
import { upEnv } from '../test/helpers/ports.js';

const { values: args } = parseArgs({
  options: {
    slowloris: { type: 'string', default: '2000' },
    handshakes: { type: 'string', default: '1100' },
    'half-open': { type: 'string', default: '20000' },
    sources: { type: 'string', default: '100' },
  },
});
const SLOWLORIS = Number(args.slowloris);
const HANDSHAKES = Number(args.handshakes);
const HALF_OPEN = Number(args['half-open']);
const SOURCES = Number(args.sources);

const dir = mkdtempSync(join(tmpdir(), 'ks-flood-'));
const g = ['--data-dir', join(dir, 'data')];
const up = await upEnv();
const p = up.ports as Record<string, number>;
const env = { ...up.env, KEYSWITCH_LOG_LEVEL: 'error' };
const { daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env);
const pid = daemon.proc.pid!;
const provisioned = ks([...g, 'provision', 'terminal', 'alice@lab.example', '--json'], env);
if (provisioned.code !== 0) throw new Error(provisioned.stderr);
const aliceKey = Buffer.from(JSON.parse(provisioned.stdout).key, 'hex');
const ca = readFileSync(join(dir, 'data', 'sbc-cert.pem'), 'utf8');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = (): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
};
const fds = (): number => readdirSync(`/proc/${pid}/fd`).length;
let peakRss = 0;
let peakFds = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, rssMb());
  peakFds = Math.max(peakFds, fds());
}, 200);

/** The n-th of `count` loopback source addresses, away from 127.0.0.1 where the legitimate terminal is. */
const source = (i: number, count: number): string => {
  const k = (i % count) + 1;
  return `127.${10 + Math.floor(k / 250)}.${k % 250}.1`;
};

interface Conn {
  sock: net.Socket;
  connected: boolean;
  closed: boolean;
  openedAt: number;
  closedAt: number;
}
const live = new Set<Conn>();

function open(port: number, localAddress: string): Conn {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress });
  const c: Conn = { sock, connected: false, closed: false, openedAt: performance.now(), closedAt: 0 };
  live.add(c);
  sock.on('connect', () => (c.connected = true));
  sock.on('error', () => undefined);
  sock.on('close', () => {
    c.closed = true;
    c.closedAt = performance.now();
    live.delete(c);
  });
  return c;
}

/** Opens `n` connections in batches, so that this process's own descriptors (and ephemeral ports) hold out. */
async function flood(n: number, port: number, sources: number, per: (c: Conn) => void = () => undefined): Promise<Conn[]> {
  const out: Conn[] = [];
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, (_, j) => open(port, source(i + j, sources)));
    for (const c of batch) per(c);
    out.push(...batch);
    await until(() => batch.every((c) => c.connected || c.closed), 10_000).catch(() => undefined);
  }
  return out;
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timeout');
    await sleep(20);
  }
}

async function healthz(): Promise<string> {
  const t0 = performance.now();
  try {
    const r = await fetch(`http://127.0.0.1:${p.api}/healthz`, { signal: AbortSignal.timeout(5000) });
    return `${r.status} in ${Math.round(performance.now() - t0)} ms`;
  } catch (e) {
    return `failed (${(e as Error).message})`;
  }
}

async function legit(mechs: string, transport: 'udp' | 'tcp'): Promise<string> {
  const t0 = performance.now();
  const r = await Promise.race([
    registerSip({ idc: 'alice@lab.example', kc: aliceKey, mechs, transport, sbc: { host: '127.0.0.1', port: p.sbcSip! }, ...(mechs.startsWith('tls;') ? { tls: { ca } } : {}) }),
    sleep(15_000).then(() => ({ ok: false as const, error: 'no answer in 15 s' })),
  ]);
  return r.ok ? `ok in ${Math.round(performance.now() - t0)} ms` : `FAILED: ${r.error}`;
}

function report(name: string, conns: Conn[], t0: number, rows: Record<string, string>): void {
  // the deadlines are 10 s: what closed within 5 s was refused (or made room for a newcomer) at once
  const refused = conns.filter((c) => c.closed && c.closedAt - c.openedAt < 5000).length;
  console.log(`\n## ${name}`);
  console.log(`opened ${conns.length}: closed at once (refused, or evicted by a newcomer) ${refused}, held until a deadline ${conns.length - refused}`);
  for (const [k, v] of Object.entries(rows)) console.log(`${k}: ${v}`);
  const opened = Math.max(...conns.map((c) => c.openedAt));
  const last = Math.max(...conns.map((c) => c.closedAt));
  console.log(`this process took ${((opened - t0) / 1000).toFixed(1)} s to open them all; the SBC had closed them all ${((last - opened) / 1000).toFixed(1)} s after the last was opened`);
}

const trickler = (bytes: Buffer) => (c: Conn) => {
  let i = 0;
  const t = setInterval(() => {
    if (c.closed || i >= bytes.length) return clearInterval(t);
    if (c.connected) c.sock.write(bytes.subarray(i, ++i));
  }, 1000);
};
const REGISTER = Buffer.from('REGISTER sip:sbc1.lab.example SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2;branch=z9hG4bKslow\r\nTo: <sip:m@lab.example>\r\nFrom: <sip:m@lab.example>;tag=1\r\nCall-ID: slow\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n');

await sleep(3000);
const baseRss = rssMb();
const baseFds = fds();
console.log(`# keyswitch up under connection floods (defaults: ${SOURCES} source addresses for the spread floods)`);
console.log(`baseline: RSS ${baseRss} MB, ${baseFds} descriptors; /healthz ${await healthz()}; TCP register ${await legit('app-hmac;q=0.5', 'tcp')}`);

{
  const t0 = performance.now();
  const conns = await flood(SLOWLORIS, p.sbcSip!, 1, trickler(REGISTER));
  const rows = { '/healthz during': await healthz(), 'legitimate TCP registration during': await legit('app-hmac;q=0.5', 'tcp') };
  await until(() => conns.every((c) => c.closed), 60_000).catch(() => undefined);
  report(`1a. ${SLOWLORIS} slowloris TCP connections from one address (a byte a second)`, conns, t0, rows);
}
{
  const t0 = performance.now();
  const conns = await flood(SLOWLORIS, p.sbcSip!, SOURCES, trickler(REGISTER));
  const rows = { '/healthz during': await healthz(), 'legitimate TCP registration during': await legit('app-hmac;q=0.5', 'tcp') };
  await until(() => conns.every((c) => c.closed), 60_000).catch(() => undefined);
  report(`1b. ${SLOWLORIS} slowloris TCP connections from ${SOURCES} addresses`, conns, t0, rows);
}
{
  const t0 = performance.now();
  const secured: tls.TLSSocket[] = [];
  const conns: Conn[] = [];
  let done = 0;
  let failed = 0;
  for (let i = 0; i < HANDSHAKES; i++) {
    const c = open(p.sbcTls!, source(i, Math.ceil(HANDSHAKES / 20)));
    conns.push(c);
    const s = tls.connect({ socket: c.sock, ca, servername: 'sbc1.lab.example', rejectUnauthorized: false });
    s.on('secureConnect', () => done++);
    s.on('error', () => failed++);
    secured.push(s);
    if (i % 100 === 99) await until(() => done + failed > i - 50, 10_000).catch(() => undefined);
  }
  await until(() => done + failed >= HANDSHAKES, 30_000).catch(() => undefined);
  const rows = {
    'handshakes completed': `${done} (failed ${failed})`,
    '/healthz during': await healthz(),
    'legitimate TLS registration during': await legit('tls;q=0.5', 'udp'),
    'legitimate TLS-PSK registration during': await legit('tls-psk;q=0.5', 'udp'),
  };
  await until(() => conns.every((c) => c.closed), 90_000).catch(() => undefined);
  report(`2. ${HANDSHAKES} completed TLS handshakes on the TLS port that then say nothing (20 per address)`, conns, t0, rows);
}
{
  const t0 = performance.now();
  const conns = await flood(HALF_OPEN, p.sbcTls!, Math.ceil(HALF_OPEN / 20));
  const rows = {
    '/healthz during': await healthz(),
    'legitimate TLS-PSK registration during (port 5062)': await legit('tls-psk;q=0.5', 'udp'),
    'legitimate TLS registration during (the flooded port)': await legit('tls;q=0.5', 'udp'),
    'SBC descriptors at the peak': String(peakFds),
  };
  await until(() => conns.every((c) => c.closed), 60_000).catch(() => undefined);
  report(`3. ${HALF_OPEN} half-open TLS connections on the TLS port (20 per address)`, conns, t0, rows);
  console.log(`legitimate TLS registration once it cleared: ${await legit('tls;q=0.5', 'udp')}`);
}

clearInterval(sampler);
const after: string[] = [];
let waited = 0;
for (const at of [15, 30, 60, 120, 180]) {
  await sleep((at - waited) * 1000);
  waited = at;
  after.push(`${at} s after ${rssMb()} MB`);
}
console.log(`\n## memory`);
console.log(`RSS: baseline ${baseRss} MB, peak ${peakRss} MB; ${after.join(', ')}`);
console.log(`descriptors: baseline ${baseFds}, peak ${peakFds}, after ${fds()}`);
console.log(`/healthz after: ${await healthz()}`);
for (const c of live) c.sock.destroy();
await daemon.stop();
rmSync(dir, { recursive: true, force: true });
