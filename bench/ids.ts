/**
 * npm run bench:ids
 *
 * 1. The latency the intrusion detection adds per SIP message: the SIP
 *    adapter's event mapping and the engine's verdict, for a mix of REGISTER,
 *    INVITE, BYE and OPTIONS from 2,000 flows (already parsed: parsing is the
 *    stack's and happens with or without the IDS), with the shipped rules and
 *    with 100 rules. p50 and p99 of single calls, timed one by one.
 * 2. The SBC's throughput on OPTIONS it answers itself (parse, IDS, answer),
 *    with the IDS on and off, in the same run: 256 UDP clients on 256
 *    loopback addresses, each with one request outstanding, for a few
 *    seconds each way.
 *
 * 3. With a private redis-server (when `redis-server` is installed): the
 *    same with the IDS's counts and blocks shared through Redis
 *    (docs/ids.md, "Intrusion detection across instances"): the latency per
 *    message when no counter is shared and when every flow's is, the time of
 *    one exchange of 2,000 shared counters, and the SBC's throughput.
 *
 * Figures depend on the machine and on what else runs on it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, type MessageSource } from '../src/sip/index.js';
import { SipIds } from '../src/adapters/sip/ids.js';
import { IdsEngine } from '../src/ids/engine.js';
import { loadRuleFile, readRuleFile } from '../src/ids/load.js';
import { compileRules } from '../src/ids/rules.js';
import { shippedRules } from '../src/ids/service.js';
import { IdsSharing } from '../src/ids/shared.js';
import { connectRedis } from '../src/store/redis/index.js';
import { redisIdsBackend } from '../src/store/redis/ids-shared.js';
import { startSbc } from '../src/sbc/run.js';

const SHIPPED = readRuleFile(shippedRules());

function hundredRules(): string {
  const extra: string[] = [];
  const methods = ['INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'SUBSCRIBE', 'MESSAGE', 'INFO', 'UPDATE', 'NOTIFY', 'PUBLISH'];
  for (let i = 0; extra.length < 100 - 14; i++) {
    const k = i % 3;
    if (k === 0) extra.push(`<rule name="flood ${i}" type="flood"><sip-method method="${methods[i % methods.length]}"/><number>${1000 + i}</number><interval>10</interval><per>${i % 2 ? 'flow' : 'address'}</per><action type="drop"/></rule>`);
    else if (k === 1) extra.push(`<rule name="injection ${i}" type="injection">${Array.from({ length: 10 }, (_, j) => `<pattern>bad${i}x${j}</pattern>`).join('')}<action type="block" seconds="60"/></rule>`);
    else extra.push(`<rule name="signature ${i}" type="scanner-signature"><user-agent>tool-${i}</user-agent><user-agent>scanner-${i}</user-agent><action type="block" seconds="60"/></rule>`);
  }
  return SHIPPED.replace('</ids-rules>', `${extra.join('\n')}\n</ids-rules>`);
}

function messages(n: number): Array<{ r: ReturnType<typeof parseMessage>; src: MessageSource }> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const port = 10_000 + (i % 2000);
    const user = `u${i % 2000}`;
    const method = ['REGISTER', 'INVITE', 'BYE', 'OPTIONS'][i % 4]!;
    const to = method === 'BYE' ? `<sip:${user}@lab.example>;tag=b${i}` : `<sip:${user}@lab.example>`;
    const auth = method === 'REGISTER' && i % 8 === 0 ? `Authorization: Digest username="${user}@lab.example", realm="lab.example", nonce="abc${i}", uri="sip:lab.example", response="0123456789abcdef0123456789abcdef", algorithm=MD5\r\n` : '';
    const text =
      `${method} sip:${method === 'REGISTER' ? '' : `${user}@`}lab.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.${i % 250}:${port};branch=z9hG4bK${i}\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${user}@lab.example>;tag=a${i}\r\nTo: ${to}\r\nCall-ID: c${i}@x\r\nCSeq: ${i + 1} ${method}\r\nContact: <sip:${user}@192.0.2.1:${port}>\r\nUser-Agent: Linphone/5.2\r\n${auth}Content-Length: 0\r\n\r\n`;
    const src = { protocol: 'udp', address: `192.0.2.${i % 250}`, port, transport: undefined } as unknown as MessageSource;
    out.push({ r: parseMessage(Buffer.from(text)), src });
  }
  return out;
}

async function sharingOn(url: string, now?: () => number, shareFrom?: number): Promise<IdsSharing> {
  const redis = connectRedis({ url, keyPrefix: `bench${process.pid}:` });
  if (!(await redis.ready(5000))) throw new Error(`redis at ${url} not ready`);
  return new IdsSharing(redisIdsBackend(redis), { ...(now ? { now } : {}), ...(shareFrom !== undefined ? { shareFrom } : {}), syncMs: 250 });
}

/** `shareAll`: every counter shared from its first count (the worst case: every flow suspicious). */
async function latency(label: string, rulesXml: string, redisUrl?: string, shareAll = false): Promise<void> {
  let t = 1_000_000;
  const now = () => (t += 0.05);
  const sharing = redisUrl ? await sharingOn(redisUrl, now, shareAll ? 0 : undefined) : undefined;
  const engine = new IdsEngine({ rules: compileRules(rulesXml), now, ...(sharing ? { sharing } : {}) });
  const ids = new SipIds(engine);
  const msgs = messages(20_000);
  for (const m of msgs) ids.inbound(m.r, m.src); // warm-up: partners exist, code optimised
  const samples = new Float64Array(200_000);
  for (let i = 0; i < samples.length; i++) {
    const m = msgs[i % msgs.length]!;
    const a = process.hrtime.bigint();
    ids.inbound(m.r, m.src);
    samples[i] = Number(process.hrtime.bigint() - a) / 1000;
  }
  samples.sort();
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(2);
  console.log(`  ${label.padEnd(36)} ${String(engine.rules.rules.length).padStart(4)} rules   p50 ${q(0.5)} µs   p99 ${q(0.99)} µs   (200,000 messages, 2,000 flows)`);
  if (sharing && shareAll) {
    // One exchange of everything those messages left to send (2,000 flows, their addresses and identities).
    const times: number[] = [];
    for (let k = 0; k < 5; k++) {
      for (let i = 0; i < 2000; i++) ids.inbound(msgs[i]!.r, msgs[i]!.src);
      const a = performance.now();
      await sharing.sync();
      times.push(performance.now() - a);
    }
    times.sort((x, y) => x - y);
    console.log(`  one exchange, every 250 ms off the message path, of ${sharing.stats.lastBatch} counters (the most per exchange): median ${times[2]!.toFixed(1)} ms of 5`);
  }
  await sharing?.close();
}

async function throughput(idsOn: boolean, seconds: number, redisUrl?: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ids-'));
  const sharing = idsOn && redisUrl ? await sharingOn(redisUrl) : undefined;
  const ids = idsOn ? new IdsEngine({ rules: loadRuleFile(shippedRules()), ...(sharing ? { sharing } : {}) }) : undefined;
  const sbc = await startSbc({
    idsp: 'sbc1.lab.example', ksp: randomBytes(32),
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
    softswitch: { host: '127.0.0.1', port: 9 },
    offered: [{ name: 'app-hmac', q: 0.5 }],
    tls: { dataDir: dir },
    signing: { enabled: false },
    ...(ids ? { ids } : {}),
  });
  const port = sbc.ports.udp!;
  let answered = 0;
  let running = true;
  const clients: Socket[] = [];
  const send = (s: Socket, n: number) => {
    const lp = s.address().port;
    const la = s.address().address;
    const text = `OPTIONS sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP ${la}:${lp};branch=z9hG4bKb${lp}x${n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@lab.example>;tag=t${lp}\r\nTo: <sip:lab.example>\r\nCall-ID: b${lp}x${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`;
    s.send(text, port, '127.0.0.1');
  };
  // each client from its own loopback address (as terminals behind different addresses); a lost answer is resent after 200 ms
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < 256; i++) {
    const s = createSocket('udp4');
    let n = 1;
    let last = 0;
    s.on('message', () => {
      answered++;
      last = performance.now();
      if (running) send(s, ++n);
    });
    await new Promise<void>((r) => s.bind(0, `127.0.${2 + (i >> 7)}.${1 + (i & 127)}`, () => r()));
    timers.push(setInterval(() => running && performance.now() - last > 200 && (last = performance.now(), send(s, ++n)), 100));
    clients.push(s);
  }
  for (const s of clients) send(s, 1);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const from = answered;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const rate = ((answered - from) * 1000) / (performance.now() - t0);
  running = false;
  for (const t of timers) clearInterval(t);
  for (const s of clients) s.close();
  await sbc.close();
  if (sharing) {
    console.log(`  (Redis exchanges: ${sharing.stats.flushes}, failed ${sharing.stats.flushErrors})`);
    await sharing.close();
  }
  if (ids && ids.blocks().length > 0) console.log(`  (warning: the IDS blocked ${ids.blocks().length} bench clients)`);
  return rate;
}

async function main(): Promise<void> {
  console.log('bench:ids — the intrusion detection (docs/ids.md); a shared machine gives noisy figures\n');
  console.log('added latency per SIP message (adapter + engine):');
  await latency('shipped rules', SHIPPED);
  await latency('100 rules', hundredRules());
  const redis = await benchRedis();
  if (redis) {
    await latency('shipped rules, Redis, none shared', SHIPPED, redis.url);
    await latency('shipped rules, Redis, all shared', SHIPPED, redis.url, true);
  } else console.log('  (redis-server not found: the shared IDS is not measured)');
  console.log('\nSBC throughput, OPTIONS answered by the SBC (256 UDP clients on 256 loopback addresses, 1 outstanding each):');
  const seconds = Number(process.env.BENCH_SECONDS ?? 4);
  const off1 = await throughput(false, seconds);
  const on1 = await throughput(true, seconds);
  const off2 = await throughput(false, seconds);
  const on2 = await throughput(true, seconds);
  const off = (off1 + off2) / 2;
  const on = (on1 + on2) / 2;
  console.log(`  IDS off  ${off.toFixed(0)} answers/s  (runs ${off1.toFixed(0)}, ${off2.toFixed(0)})`);
  console.log(`  IDS on   ${on.toFixed(0)} answers/s  (runs ${on1.toFixed(0)}, ${on2.toFixed(0)})`);
  console.log(`  on / off ${((100 * on) / off).toFixed(1)} %`);
  if (redis) {
    const shared1 = await throughput(true, seconds, redis.url);
    const shared2 = await throughput(true, seconds, redis.url);
    const shared = (shared1 + shared2) / 2;
    console.log(`  IDS on, shared through Redis  ${shared.toFixed(0)} answers/s  (runs ${shared1.toFixed(0)}, ${shared2.toFixed(0)}); ${((100 * shared) / on).toFixed(1)} % of IDS on alone`);
    redis.child.kill('SIGKILL');
  }
  process.exit(0);
}

void main();

/** A private redis-server on a free port, no persistence; undefined when none is installed. */
async function benchRedis(): Promise<{ url: string; child: ChildProcess } | undefined> {
  const bin = process.env.KEYSWITCH_TEST_REDIS_SERVER ?? 'redis-server';
  if (spawnSync(bin, ['--version']).error) return undefined;
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'bench-ids-redis-'));
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}`)));
  });
  child.stdout!.resume();
  process.on('exit', () => child.kill('SIGKILL'));
  return { url: `redis://127.0.0.1:${port}`, child };
}
