/**
 * npm run bench:overload [-- --capacity 900 --duration 30 --users 2000 --probe-rate 1500 --factor 3 --gc --idle 40,90]
 *
 * Overload control of `keyswitch up` (docs/sbc.md, "Overload"): sipp offers
 * Digest MD5 REGISTERs (bench/sipp/register-digest-inf.xml, users from an
 * injection file, open loop) at 1× and at 3× the measured capacity for
 * --duration seconds each, then at 1× again for 10 s to see it recover.
 * Prints per phase: offered and completed registrations/s (goodput), the
 * failures (503s from the SBC's overload gate and the softswitch's AuC
 * queue, read from /metrics; others by sipp's reason), sipp's
 * retransmissions, and the memory of all keyswitch processes (sum of PSS)
 * every 5 s. Per role (sbc, softswitch, auc) it prints the peak RSS (from
 * /proc), heap used and external memory (from /metrics) during each phase,
 * and the same again after the load, once the transactions' timers have
 * run out (40 s idle; --idle lists the idle seconds at which it is read, e.g.
 * 40,90 to see whether V8 has given the load's garbage back). Recovery: the seconds, counted from the start of the
 * phase after the overload, until the first second in which the SBC refused
 * nothing new. Figures only: nothing is asserted.
 *
 * --gc runs the roles with --expose-gc, so that every scrape (every 5 s)
 * reports the heap that survives a full collection: what is retained, not
 * garbage not yet collected (the collections cost the roles some CPU).
 * --factor sets the overload (default 3×).
 *
 * Capacity is measured first (10 s at --probe-rate; registrations completed
 * over the time until the last one completed), unless
 * --capacity gives it. On a shared machine the figures are noisy: the load
 * average is printed with each phase.
 *
 * The intrusion detection is off (ids.enabled off, as for benchmarks): one
 * sipp source sending thousands of REGISTERs a second is what it blocks.
 *
 * Needs sipp (Debian sip-tester) on Linux.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/index.js';
import { freePorts, upEnv } from '../test/helpers/ports.js';
import { cpuSeconds, loadAverage, memoryKiB, processName, processTree } from './proc-stat.js';

const { values: args } = parseArgs({
  options: {
    capacity: { type: 'string' },
    duration: { type: 'string', default: '30' },
    users: { type: 'string', default: '2000' },
    'probe-rate': { type: 'string', default: '1500' },
    factor: { type: 'string', default: '3' },
    gc: { type: 'boolean', default: false },
    idle: { type: 'string', default: '40' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}
if (!existsSync('/usr/bin/sipp') && !existsSync('/usr/local/bin/sipp')) {
  console.error('bench:overload needs sipp (Debian sip-tester)');
  process.exit(2);
}
const duration = Number(args.duration);
const userCount = Number(args.users);
const factor = Number(args.factor);

const BIN = join(import.meta.dirname, '..', 'bin', 'keyswitch.js');
const SCENARIO = join(import.meta.dirname, 'sipp', 'register-digest-inf.xml');
const dir = mkdtempSync(join(tmpdir(), 'ks-bench-overload-'));
const masterKey = randomBytes(32).toString('hex');
const users = Array.from({ length: userCount }, (_, i) => ({ user: `d${i}`, password: `pw${i}` }));
const usersCsv = join(dir, 'users.csv');
writeFileSync(usersCsv, 'SEQUENTIAL\n' + users.map((u) => `${u.user};${u.password}`).join('\n') + '\n');
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.stderr.write(`provisioning ${fmt(userCount)} Digest users…\n`);
{
  const store = await openStore({ dataDir: join(dir, 'data'), masterKeyHex: masterKey });
  for (let i = 0; i < users.length; i += 200) {
    await Promise.all(users.slice(i, i + 200).map((u) => store.terminals.create(`${u.user}@127.0.0.1`, randomBytes(32), u.password)));
  }
  await store.close();
}

const up = await upEnv();
const proc = spawn(process.execPath, [BIN, 'up'], {
  env: { ...process.env, ...up.env, ...(args.gc ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim() } : {}), KEYSWITCH_DATA_DIR: join(dir, 'data'), KEYSWITCH_MASTER_KEY: masterKey, KEYSWITCH_LOG_LEVEL: 'warn', KEYSWITCH_DIGEST_ALGORITHMS: 'MD5', KEYSWITCH_IDS: 'off' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
await new Promise<void>((ok, fail) => {
  const timer = setTimeout(() => fail(new Error(`keyswitch up not ready in 60 s: ${out}`)), 60_000);
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
    if (/metrics \(and \/healthz\)/.test(out)) {
      clearTimeout(timer);
      ok();
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.once('exit', (code) => fail(new Error(`keyswitch up exited ${code}: ${out}`)));
});
proc.removeAllListeners('exit');
const target = `127.0.0.1:${up.ports.sbcSip}`;
const metricsUrl = `http://127.0.0.1:${up.ports.metrics}/metrics`;

const ROLES = ['sbc', 'softswitch', 'auc'] as const;
type Role = (typeof ROLES)[number];
/** MiB of one role: RSS (from /proc), V8 heap used and external memory (ArrayBuffers, Buffers) from its /metrics. */
interface RoleMemory { rss: number; heap: number; external: number }
type Memory = Record<Role, RoleMemory>;
const noMemory = (): Memory => ({ sbc: { rss: 0, heap: 0, external: 0 }, softswitch: { rss: 0, heap: 0, external: 0 }, auc: { rss: 0, heap: 0, external: 0 } });

/** The role processes' pids, by their title (`keyswitch up: sbc`). */
function rolePids(): Partial<Record<Role, number>> {
  const out: Partial<Record<Role, number>> = {};
  for (const pid of processTree(proc.pid!)) {
    const m = /^keyswitch up: (\w+)/.exec(processName(pid));
    if (m && (ROLES as readonly string[]).includes(m[1]!)) out[m[1] as Role] = pid;
  }
  return out;
}

/** Sums of the counters the phases report, the gate's signals and each role's memory, from keyswitch's /metrics. */
async function counters(): Promise<{ sbc503: number; aucShed: number; fraction: number; pending: number; delayMs: number; lagMs: number; memory: Memory }> {
  const text = await fetch(metricsUrl).then((r) => r.text()).catch(() => '');
  const sum = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const lag = /^nodejs_eventloop_lag_seconds\{role="sbc"\} (\S+)$/m.exec(text);
  const memory = noMemory();
  const pids = rolePids();
  for (const role of ROLES) {
    const of = (name: string) => Number(new RegExp(`^${name}\\{role="${role}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
    const pid = pids[role];
    memory[role] = { rss: pid ? memoryKiB([pid]).maxRss / 1024 : NaN, heap: of('nodejs_heap_size_used_bytes'), external: of('nodejs_external_memory_bytes') };
  }
  return { sbc503: sum('keyswitch_sbc_overload_rejected_total'), aucShed: sum('keyswitch_softswitch_auc_shed_total'), fraction: sum('keyswitch_sbc_overload_reject_fraction'), pending: sum('keyswitch_sbc_core_pending'), delayMs: sum('keyswitch_sbc_core_delay_seconds') * 1000, lagMs: lag ? Number(lag[1]) * 1000 : NaN, memory };
}

function peak(into: Memory, m: Memory): void {
  for (const role of ROLES) {
    for (const k of ['rss', 'heap', 'external'] as const) if (!(into[role][k] >= m[role][k])) into[role][k] = Math.max(into[role][k] || 0, m[role][k] || 0);
  }
}
const showMemory = (m: Memory) => ROLES.map((r) => `${r} ${fmt(m[r].rss)}/${fmt(m[r].heap)}/${fmt(m[r].external)}`).join(', ');

interface Phase {
  name: string;
  rate: number;
  ok: number;
  failed: number;
  retransmissions: number;
  goodput: number;
  /** Completions over the time until the last one (offered time at least): what the server sustained. */
  sustained: number;
  /** Completed registrations per second, in 5 s slices. */
  slices: number[];
  sbc503: number;
  aucShed: number;
  why: string;
  /** Sum of PSS of all keyswitch processes, MiB, every 5 s. */
  memory: number[];
  /** Every 5 s: the SBC's refused share, its requests pending at the core, the core's answer delay and the SBC's event-loop lag (ms). */
  signals: string[];
  /** Per role, the largest RSS, heap used and external memory (MiB) seen during the phase. */
  peak: Memory;
  /** Seconds from the phase's start until the first second in which the SBC refused nothing new. */
  calmAfter: number;
  /** CPU each role used, in cores (CPU seconds over the phase's wall-clock seconds). */
  cores: Record<Role, number>;
  load: number;
}

/** Offers `rate` REGISTER calls/s for `seconds`, then waits for the calls to end. */
async function phase(name: string, rate: number, seconds: number): Promise<Phase> {
  const [port] = (await freePorts(1)) as [number];
  const stf = join(dir, `sipp-${name}.csv`);
  rmSync(stf, { force: true });
  const before = await counters();
  const load = loadAverage();
  const pids = rolePids();
  const cpu0 = Object.fromEntries(ROLES.map((r) => [r, cpuSeconds(pids[r] ? [pids[r]!] : [])])) as Record<Role, number>;
  const t0 = Date.now();
  const memory: number[] = [];
  const signals: string[] = [];
  const peakMemory = noMemory();
  peak(peakMemory, before.memory);
  const started = Date.now();
  let calmAfter = NaN;
  let last503 = before.sbc503;
  let ticks = 0;
  const sampler = setInterval(() => {
    const tick = ++ticks;
    // every 5 s: each tick is 1 s, or 5 s with --gc (a full collection per scrape)
    const every5 = args.gc || tick % 5 === 0;
    if (every5) memory.push(memoryKiB(processTree(proc.pid!)).pssSum / 1024);
    void counters().then((c) => {
      if (every5) signals.push(`${fmt(c.fraction * 100)}%/${fmt(c.pending)}/${fmt(c.delayMs)}/${fmt(c.lagMs)}`);
      peak(peakMemory, c.memory);
      if (Number.isNaN(calmAfter) && c.sbc503 === last503 && c.fraction === 0) calmAfter = (Date.now() - started) / 1000;
      last503 = c.sbc503;
    });
  }, args.gc ? 5000 : 1000);
  const p = spawn(
    'sipp',
    ['-sf', SCENARIO, '-inf', usersCsv, '-m', String(Math.round(rate * seconds)), '-r', String(rate), '-l', String(rate * 60), '-i', '127.0.0.1', '-p', String(port), target,
      '-nostdin', '-default_behaviors', 'all,-bye', '-timeout', `${Math.ceil(seconds + 60)}s`, '-trace_stat', '-stf', stf, '-fd', '1'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  await new Promise<void>((r) => p.once('close', () => r()));
  clearInterval(sampler);
  const wall = (Date.now() - t0) / 1000;
  const cores = Object.fromEntries(ROLES.map((r) => [r, (cpuSeconds(pids[r] ? [pids[r]!] : []) - cpu0[r]) / wall])) as Record<Role, number>;
  const after = await counters();
  const rows = existsSync(stf) ? readFileSync(stf, 'utf8').trim().split('\n') : [];
  if (rows.length < 2) throw new Error(`sipp wrote no statistics: ${err}`);
  const head = rows[0]!.split(';');
  const num = (row: string, col: string) => Number(row.split(';')[head.indexOf(col)] ?? NaN);
  const last = rows[rows.length - 1]!;
  const ok = num(last, 'SuccessfulCall(C)');
  const slices: number[] = [];
  for (let i = 1; i < rows.length && slices.length * 5 < seconds; i += 5) {
    const from = i === 1 ? 0 : num(rows[i - 1]!, 'SuccessfulCall(C)');
    const to = num(rows[Math.min(rows.length - 1, i + 4)]!, 'SuccessfulCall(C)');
    slices.push((to - from) / 5);
  }
  return {
    name, rate, ok,
    failed: num(last, 'FailedCall(C)'),
    retransmissions: num(last, 'Retransmissions(C)'),
    sustained: ok / Math.max(seconds, rows.findIndex((r, i) => i > 0 && num(r, 'SuccessfulCall(C)') >= ok) || seconds),
    // completed within the offered time (rows come once a second), not while sipp waits for the stragglers
    goodput: num(rows[Math.min(rows.length - 1, Math.round(seconds))]!, 'SuccessfulCall(C)') / seconds,
    slices,
    sbc503: after.sbc503 - before.sbc503,
    aucShed: after.aucShed - before.aucShed,
    why: head.filter((h) => /^Failed.+\(C\)$/.test(h) && h !== 'FailedCall(C)' && num(last, h) > 0).map((h) => `${h.slice(6, -3)} ${fmt(num(last, h))}`).join(', '),
    memory,
    signals,
    peak: peakMemory,
    calmAfter,
    cores,
    load,
  };
}

try {
  process.stderr.write('warming up…\n');
  await phase('warm', 300, 2);
  let capacity = args.capacity ? Number(args.capacity) : NaN;
  if (!Number.isFinite(capacity)) {
    const probeRate = Number(args['probe-rate']);
    process.stderr.write(`measuring capacity: 10 s at ${fmt(probeRate)}/s…\n`);
    const probe = await phase('probe', probeRate, 10);
    capacity = Math.max(10, Math.floor(probe.sustained / 10) * 10);
    await sleep(5000);
  }
  const phases: Phase[] = [];
  const over = `${factor}x`;
  for (const [name, f, seconds] of [['1x', 1, duration], [over, factor, duration], ['recovery 1x', 1, 10]] as const) {
    process.stderr.write(`${name}: ${fmt(capacity * f)}/s for ${seconds} s…\n`);
    phases.push(await phase(name.replace(/\s/g, '-'), capacity * f, seconds));
    if (name === over) await sleep(2000);
  }
  const idleAt = args.idle.split(',').map(Number);
  if (idleAt.some((s, i) => !(s > 0) || (i > 0 && s <= idleAt[i - 1]!))) throw new Error('--idle: increasing seconds, e.g. 40,90');
  const idle: Array<{ seconds: number; memory: Memory }> = [];
  for (const seconds of idleAt) {
    process.stderr.write(`idle until ${seconds} s (Timer J)…\n`);
    await sleep((seconds - (idle.at(-1)?.seconds ?? 0)) * 1000);
    idle.push({ seconds, memory: (await counters()).memory });
  }
  console.log(`keyswitch up, Digest MD5 REGISTER via sipp; capacity ${fmt(capacity)}/s (${args.capacity ? 'given' : 'measured'}); ${duration} s per phase; shared machine: noisy figures`);
  console.log('phase        offered/s  goodput/s  % of capacity  ok       failed   503 (SBC)  503 (AuC queue)  retrans  load');
  for (const p of phases) {
    console.log(
      `${p.name.padEnd(12)} ${fmt(p.rate).padStart(9)}  ${fmt(p.goodput, 0).padStart(9)}  ${fmt((100 * p.goodput) / capacity, 0).padStart(12)} %  ${fmt(p.ok).padEnd(8)} ${fmt(p.failed).padEnd(8)} ${fmt(p.sbc503).padStart(9)}  ${fmt(p.aucShed).padStart(15)}  ${fmt(p.retransmissions).padStart(7)}  ${p.load.toFixed(1)}`,
    );
  }
  console.log('CPU per role, cores (until the phase\'s last call ended):');
  for (const p of phases) console.log(`  ${p.name.padEnd(12)} ${ROLES.map((r) => `${r} ${fmt(p.cores[r], 2)}`).join(', ')}`);
  console.log(`peak memory per role, MiB RSS/heap used/external${args.gc ? ' (heap after a full GC at each 5 s scrape)' : ''}:`);
  for (const p of phases) console.log(`  ${p.name.padEnd(12)} ${showMemory(p.peak)}`);
  for (const i of idle) console.log(`  ${`${i.seconds} s idle`.padEnd(12)} ${showMemory(i.memory)}`);
  const after = phases[2]!;
  const calm = Number.isNaN(after.calmAfter)
    ? `the SBC still refused new work in every second of the phase after the overload (${fmt(after.sbc503, 0)} refused)`
    : `the SBC refused nothing new from ${fmt(after.calmAfter, 0)} s into the phase after the overload`;
  console.log(`recovery: ${calm}; goodput ${fmt((100 * after.goodput) / capacity, 0)} % of capacity`);
  for (const p of phases) {
    console.log(`${p.name}: goodput/s per 5 s: ${p.slices.map((x) => fmt(x)).join(' ')}; memory (PSS of all processes, MiB) every 5 s: ${p.memory.map((x) => fmt(x)).join(' ')}; SBC refused share/pending at the core/core delay ms/event-loop lag ms every 5 s: ${p.signals.join(' ')}${p.why ? `; failures: ${p.why}` : ''}`);
  }
} finally {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
