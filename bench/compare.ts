/**
 * npm run bench:compare [-- --rate 3500,500 --duration 20 --runs 3 --users 1000]
 *
 * The same sipp scenario (Digest MD5 REGISTER, user and password per call from
 * an injection file: bench/sipp/register-digest-inf.xml) offered at the same
 * rate, open loop, to `keyswitch up` and to a minimal Kamailio registrar
 * (bench/kamailio-registrar.ts), alternately in one run. Prints for each:
 * offered rate, completed registrations/s, failures, retransmissions, CPU
 * per registration (utime + stime from /proc of the server and all its
 * processes), memory; the median over the runs and the keyswitch/Kamailio
 * ratios. Each run starts a fresh server and warms it first (--warmup).
 *
 * Options:
 *   --rate       offered REGISTER calls/s, a comma list (default 3500)
 *   --duration   seconds of offered load per run (default 20)
 *   --runs       runs per server and rate; the median is printed (default 3)
 *   --users      provisioned Digest users, registered in turn (default 1000)
 *   --only       keyswitch,kamailio (default both)
 *   --kamailio-children  Kamailio UDP workers (default: the number of cores)
 *   --warmup     seconds of warm-up load (up to 500/s) before each measured
 *                run, not measured (default 2, the figures of sessions 1-7);
 *                Node's optimising compiler is still busy a few seconds
 *                later, so 10 or more gives the steady state
 *   --warmup-rate  the warm-up's rate, calls/s (default 500, or the rate if
 *                lower): the measured run then steps up from it at once
 *   --in-flight  at most this many calls open at once (sipp -l; default: open
 *                loop, up to a 60 s backlog): a closed loop that never
 *                overloads the server, so that CPU per registration counts no
 *                work for failed calls on a loaded machine
 *   --kamailio-mode  plain (default): stateless answers, no nonce-count state,
 *                as Kamailio's stock registrar; parity: also a transaction
 *                per REGISTER and nonce-counts checked, as keyswitch does
 *   --cpu-prof   a directory: keyswitch runs under `node --cpu-prof` and writes
 *                one .cpuprofile per run there (adds the profiler's cost); its
 *                role processes too (KEYSWITCH_CHILD_CPU_PROF_DIR), into a
 *                directory keyswitch-<role>-<pid>-<n>/ each, summarised with
 *                bench/cpuprofile-summary.ts --clock-from/--clock-to as printed
 *   --node-flags  V8/Node flags for `keyswitch up`, space-separated (e.g.
 *                "--initial-heap-size=256"); its role processes inherit them.
 *                NODE_OPTIONS refuses most V8 flags, so they go on the command line
 *   --up-log     a file: everything `keyswitch up` and its role processes
 *                write (with --node-flags=--trace-gc, their collections) is
 *                appended there, each run after a header line
 *
 * Needs sipp (Debian sip-tester) and kamailio (Debian kamailio) on Linux.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { OVERLOAD_SIGNALS } from '../src/sbc/overload.js';
import { openStore } from '../src/store/index.js';
import { freePorts, upEnv } from '../test/helpers/ports.js';
import { kamailioVersion, startKamailio, type KamailioMode } from './kamailio-registrar.js';
import { cpuSeconds, loadAverage, memoryKiB, processName, processTree } from './proc-stat.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '3500' },
    duration: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    users: { type: 'string', default: '1000' },
    only: { type: 'string', default: 'keyswitch,kamailio' },
    'kamailio-children': { type: 'string', default: String(cpus().length) },
    'kamailio-mode': { type: 'string', default: 'plain' },
    'in-flight': { type: 'string' },
    warmup: { type: 'string', default: '2' },
    'warmup-rate': { type: 'string', default: '500' },
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    'up-log': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}
const nodeFlags = args['node-flags'].split(' ').filter(Boolean);
const rates = args.rate.split(',').map(Number);
const duration = Number(args.duration);
const inFlight = args['in-flight'] ? Number(args['in-flight']) : undefined;
const runs = Number(args.runs);
const warmupSeconds = Number(args.warmup);
if (!(warmupSeconds >= 1)) throw new Error('--warmup is a number of seconds, at least 1');
const warmupRate = Number(args['warmup-rate']);
if (!(warmupRate >= 1)) throw new Error('--warmup-rate is a number of calls per second, at least 1');
const userCount = Number(args.users);
const servers = args.only.split(',') as Server[];
const kamailioChildren = Number(args['kamailio-children']);
const kamailioMode = args['kamailio-mode'] as KamailioMode;
if (kamailioMode !== 'plain' && kamailioMode !== 'parity') throw new Error('--kamailio-mode is plain or parity');
const cpuProfDir = args['cpu-prof'] ? resolve(args['cpu-prof']) : undefined;
type Server = 'keyswitch' | 'kamailio';

for (const [name, ok] of [['sipp (Debian sip-tester)', existsSync('/usr/bin/sipp') || existsSync('/usr/local/bin/sipp')], ['/proc', existsSync('/proc/self/stat')]] as const) {
  if (!ok) {
    console.error(`bench:compare needs ${name}`);
    process.exit(2);
  }
}

const BIN = join(import.meta.dirname, '..', 'bin', 'keyswitch.js');
const SCENARIO = join(import.meta.dirname, 'sipp', 'register-digest-inf.xml');
const dir = mkdtempSync(join(tmpdir(), 'ks-bench-compare-'));
const masterKey = randomBytes(32).toString('hex');
const users = Array.from({ length: userCount }, (_, i) => ({ user: `d${i}`, password: `pw${i}` }));
const usersCsv = join(dir, 'users.csv');
writeFileSync(usersCsv, 'SEQUENTIAL\n' + users.map((u) => `${u.user};${u.password}`).join('\n') + '\n');

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// --- the servers --------------------------------------------------------------

interface Running {
  pid: number;
  /** performance.now() when the process was started (a --cpu-prof profile's time 0, near enough). */
  startedAt: number;
  target: string;
  /** keyswitch: its Prometheus endpoint. */
  metrics?: string;
  output(): string;
  stop(): Promise<void>;
}

if (servers.includes('keyswitch')) {
  process.stderr.write(`provisioning ${fmt(userCount)} Digest users for keyswitch…\n`);
  const store = await openStore({ dataDir: join(dir, 'ks-data'), masterKeyHex: masterKey });
  for (let i = 0; i < users.length; i += 200) {
    await Promise.all(users.slice(i, i + 200).map((u) => store.terminals.create(`${u.user}@127.0.0.1`, randomBytes(32), u.password)));
  }
  await store.close();
}

let profileRun = 0;
async function startKeyswitch(): Promise<Running> {
  const up = await upEnv(); // every listener on a free port, /metrics included
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...up.env,
    KEYSWITCH_DATA_DIR: join(dir, 'ks-data'),
    KEYSWITCH_MASTER_KEY: masterKey,
    KEYSWITCH_LOG_LEVEL: 'warn',
    // sipp 3.6 answers the first challenge only and knows MD5 only; one challenge, as Kamailio sends
    KEYSWITCH_DIGEST_ALGORITHMS: 'MD5',
    // the role processes are profiled too, each into its own file (src/cli/up-supervisor.ts)
    ...(cpuProfDir ? { KEYSWITCH_CHILD_CPU_PROF_DIR: cpuProfDir } : {}),
  };
  // NODE_OPTIONS refuses --cpu-prof: it goes on the command line
  // a directory per run, Node's own file names (the main thread's has thread id 0): a fixed
  // --cpu-prof-name would have a loader worker thread overwrite the main thread's profile
  const prof = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', join(cpuProfDir, `keyswitch-up-${process.pid}-${++profileRun}`)] : [];
  const startedAt = performance.now();
  const proc = spawn(process.execPath, [...nodeFlags, ...prof, BIN, 'up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (args['up-log']) {
    appendFileSync(args['up-log'], `==== keyswitch up, pid ${proc.pid}, started ${new Date().toISOString()}\n`);
    const log = createWriteStream(args['up-log'], { flags: 'a' });
    proc.stdout!.pipe(log, { end: false });
    proc.stderr!.pipe(log, { end: false });
  }
  let out = '';
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`keyswitch up not ready in 60 s: ${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out = (out + d.toString()).slice(-8000);
      if (/SBC H\.248 \(gateways\)/.test(out)) {
        clearTimeout(timer);
        ok();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => fail(new Error(`keyswitch up exited ${code}: ${out}`)));
  });
  proc.removeAllListeners('exit');
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    pid: proc.pid!,
    startedAt,
    target: `127.0.0.1:${up.ports.sbcSip}`,
    output: () => out,
    metrics: `http://127.0.0.1:${up.ports.metrics}/metrics`,
    stop: async () => stopChild(proc, exited),
  };
}

async function stopChild(proc: ChildProcess, exited: Promise<void>): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

async function startServer(server: Server): Promise<Running> {
  if (server === 'keyswitch') return startKeyswitch();
  const [port] = (await freePorts(1)) as [number];
  const kdir = mkdtempSync(join(dir, 'kamailio-'));
  const k = await startKamailio({ dir: kdir, port, users, children: kamailioChildren, mode: kamailioMode });
  return { pid: k.proc.pid!, startedAt: 0, target: `127.0.0.1:${port}`, output: k.output, stop: k.stop };
}

// --- sipp -----------------------------------------------------------------------

interface SippResult {
  created: number;
  ok: number;
  failed: number;
  /** Calls still open when sipp's global timeout ended the run: failures too. */
  abandoned: number;
  retransmissions: number;
  /** Failed calls by sipp's reason (its Failed…(C) columns that are not zero). */
  why: string;
  /** Seconds from the start until the last registration completed (1 s resolution, see below). */
  busySeconds: number;
  sippCpu: number;
  exit: number | null;
}

/** The status codes of the answers sipp did not expect (its -trace_err file), most frequent first: "503 ×1,200; 500 ×3". */
function unexpectedAnswers(file: string): string {
  if (!existsSync(file)) return '';
  const by = new Map<string, number>();
  for (const m of readFileSync(file, 'latin1').matchAll(/unexpected message[^\n]*?received 'SIP\/2\.0 (\d{3})/g)) by.set(m[1]!, (by.get(m[1]!) ?? 0) + 1);
  return by.size ? `answered ${[...by].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ×${fmt(n)}`).join('; ')}` : '';
}

/** Offers `rate` calls/s until `calls` were started, then waits for them (at most the retransmission timers of both transactions). */
async function sipp(target: string, rate: number, calls: number, tag: string): Promise<SippResult> {
  const [port] = (await freePorts(1)) as [number];
  const stf = join(dir, `sipp-${tag}.csv`);
  const errors = join(dir, `sipp-${tag}-errors.log`);
  rmSync(stf, { force: true });
  rmSync(errors, { force: true });
  const seconds = calls / rate;
  // -l: open loop (no cap on calls in flight below what a 60 s backlog would need).
  // No BYE for an aborted call (default behaviour "bye"): a REGISTER has no dialog,
  // and a storm of unsigned BYEs trips the SBC's signature-attack guard.
  // A non-INVITE transaction gives up after 7 retransmissions (~20 s): two per call,
  // so every call has ended ~50 s after the last one started.
  const p = spawn(
    'sipp',
    ['-sf', SCENARIO, '-inf', usersCsv, '-m', String(calls), '-r', String(rate), '-l', String(inFlight ?? rate * 60), '-i', '127.0.0.1', '-p', String(port), target,
      '-nostdin', '-default_behaviors', 'all,-bye', '-timeout', `${Math.ceil((inFlight ? 4 : 1) * seconds + 60)}s`, '-trace_stat', '-stf', stf, '-fd', '1', '-trace_err', '-error_file', errors],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  // sipp's CPU, for the record: read while it lives (a reaped child's /proc is gone)
  let sippCpu = 0;
  const poll = setInterval(() => (sippCpu = Math.max(sippCpu, cpuSeconds([p.pid!]))), 250);
  const exit = await new Promise<number | null>((r) => p.once('close', (code) => r(code)));
  clearInterval(poll);
  const rows = existsSync(stf) ? readFileSync(stf, 'utf8').trim().split('\n') : [];
  if (rows.length < 2) throw new Error(`sipp wrote no statistics (exit ${exit}): ${err}`);
  const head = rows[0]!.split(';');
  const at = (row: string, name: string) => row.split(';')[head.indexOf(name)] ?? '';
  const num = (row: string, name: string) => Number(at(row, name));
  // "date\ttime\tepoch" columns
  const epoch = (row: string, name: string) => Number(at(row, name).split('\t').pop());
  const last = rows[rows.length - 1]!;
  const ok = num(last, 'SuccessfulCall(C)');
  const failed = num(last, 'FailedCall(C)');
  const created = num(last, 'OutgoingCall(C)');
  // Rows come once a second. The last registration completed after the last row
  // that had fewer than all of them: that row's time, at least the offered
  // duration, is the time the completed registrations took.
  let busySeconds = seconds;
  for (const row of rows.slice(1)) {
    if (num(row, 'SuccessfulCall(C)') < ok) busySeconds = Math.max(busySeconds, epoch(row, 'CurrentTime') - epoch(row, 'StartTime'));
  }
  return {
    created,
    ok,
    failed,
    abandoned: Math.max(0, created - ok - failed),
    retransmissions: num(last, 'Retransmissions(C)'),
    why: [
      ...head.filter((h) => /^Failed.+\(C\)$/.test(h) && h !== 'FailedCall(C)' && num(last, h) > 0).map((h) => `${h.slice(6, -3)} ${fmt(num(last, h))}`),
      unexpectedAnswers(errors),
    ].filter(Boolean).join(', '),
    busySeconds,
    sippCpu,
    exit,
  };
}

// --- the runs -------------------------------------------------------------------

interface Result {
  server: Server;
  rate: number;
  load: number;
  created: number;
  ok: number;
  failures: number;
  perSecond: number;
  retransmissions: number;
  cpu: number;
  cpuPerRegUs: number;
  /** The same less what the server used idle over as long (its idle rate × the run's seconds). */
  netCpuPerRegUs: number;
  /** CPU of the idle server, % of one core. */
  idlePercent: number;
  maxRssMiB: number;
  pssMiB: number;
  sippCpu: number;
  why: string;
  abandoned: number;
  /** keyswitch's own counts (its /metrics): REGISTERs that reached the softswitch, registrations it accepted. */
  serverRequests: number;
  serverAccepted: number;
  /** keyswitch: CPU per completed registration of each role process (`keyswitch up: <role>`), µs. */
  byRole: Array<[string, number]>;
  /** keyswitch: new requests its SBC answered 503 for overload, and the gate's steps (100 ms) at which each signal said overloaded. */
  gate: { rejected: number; steps: Record<string, number> };
  /** keyswitch: registration steps its softswitch answered 503 because the queue toward the AuC was full, and AuC requests that got no usable answer. */
  auc: { shed: number; errors: number };
}

/** What keyswitch counted so far: REGISTERs handled by the softswitch, registrations accepted, the SBC gate's 503s and its steps per signal (NaN without metrics). */
async function counted(url: string | undefined): Promise<{ requests: number; accepted: number; rejected: number; steps: Record<string, number>; shed: number; aucErrors: number }> {
  const text = url ? await fetch(url).then((res) => res.text()).catch(() => '') : '';
  const sum = (name: string) => {
    const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    return lines.length ? lines.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0) : NaN;
  };
  const steps = Object.fromEntries(OVERLOAD_SIGNALS.map((g) => [g, sum(`keyswitch_sbc_overload_signal_steps_total{signal="${g}"}`)]));
  return { requests: sum('keyswitch_softswitch_register_requests_total'), accepted: sum('keyswitch_softswitch_registrations_total'), rejected: sum('keyswitch_sbc_overload_rejected_total'), steps, shed: sum('keyswitch_softswitch_auc_shed_total'), aucErrors: sum('keyswitch_softswitch_auc_errors_total') };
}

async function measure(server: Server, rate: number, run: number): Promise<Result> {
  const s = await startServer(server);
  try {
    // What the server burns doing nothing (timers, housekeeping): 3 s before any load.
    await new Promise((r) => setTimeout(r, 1000));
    const idlePids = processTree(s.pid);
    const idle0 = cpuSeconds(idlePids);
    await new Promise((r) => setTimeout(r, 3000));
    const idlePerSecond = (cpuSeconds(idlePids) - idle0) / 3;
    // Warm-up (JIT, caches, first bindings), not measured, at up to --warmup-rate.
    const warm = Math.min(rate, warmupRate);
    await sipp(s.target, warm, Math.round(warm * warmupSeconds), `${server}-warm`);
    await new Promise((r) => setTimeout(r, 1000));
    const load = loadAverage();
    const pids = processTree(s.pid);
    const counted0 = await counted(s.metrics);
    const cpu0 = cpuSeconds(pids);
    const roles = pids.map((pid) => [/keyswitch up: (\w+)/.exec(processName(pid))?.[1] ?? 'other', pid, cpuSeconds([pid])] as const);
    const t0 = performance.now();
    const clock0 = process.hrtime.bigint() / 1000n;
    const r = await sipp(s.target, rate, rate * duration, `${server}-${rate}-${run}`);
    const cpu = cpuSeconds(pids) - cpu0;
    const roleCpu = roles.map(([role, pid, c0]) => [role, cpuSeconds([pid]) - c0] as [string, number]);
    const seconds = (performance.now() - t0) / 1000;
    if (server === 'keyswitch' && cpuProfDir) {
      const since = (t: number) => ((t - s.startedAt) / 1000).toFixed(1);
      console.log(`  profile keyswitch-up-${process.pid}-${profileRun}/CPU.*.0.*.cpuprofile: the measured run is --from ${since(t0)} --to ${since(performance.now())}`);
      // the role processes started later: their window in the profiles' own clock (CLOCK_MONOTONIC µs, as process.hrtime)
      console.log(`  role profiles keyswitch-{auc,softswitch,sbc}-<pid>-<n>/CPU.*.0.*.cpuprofile: --clock-from ${clock0} --clock-to ${process.hrtime.bigint() / 1000n}`);
    }
    const mem = memoryKiB(processTree(s.pid));
    const counted1 = await counted(s.metrics);
    return {
      server,
      rate,
      load,
      created: r.created,
      ok: r.ok,
      failures: r.failed + r.abandoned,
      perSecond: r.ok / r.busySeconds,
      retransmissions: r.retransmissions,
      cpu,
      cpuPerRegUs: r.ok ? (cpu / r.ok) * 1e6 : Infinity,
      netCpuPerRegUs: r.ok ? (Math.max(0, cpu - idlePerSecond * seconds) / r.ok) * 1e6 : Infinity,
      idlePercent: idlePerSecond * 100,
      maxRssMiB: mem.maxRss / 1024,
      pssMiB: mem.pssSum / 1024,
      sippCpu: r.sippCpu,
      why: r.why,
      abandoned: r.abandoned,
      serverRequests: counted1.requests - counted0.requests,
      serverAccepted: counted1.accepted - counted0.accepted,
      byRole: server === 'keyswitch' && r.ok ? roleCpu.map(([role, c]) => [role, (c / r.ok) * 1e6] as [string, number]) : [],
      auc: { shed: counted1.shed - counted0.shed, errors: (counted1.aucErrors || 0) - (counted0.aucErrors || 0) },
      gate: { rejected: counted1.rejected - counted0.rejected, steps: Object.fromEntries(OVERLOAD_SIGNALS.map((g) => [g, counted1.steps[g]! - counted0.steps[g]!])) },
    };
  } finally {
    await s.stop();
  }
}

const COLUMNS = 'server       run  load  offered/s  calls   completed/s  completed  failed  retrans  CPU s  idle %  µs CPU/reg (net of idle)  RSS MiB (max / PSS sum)  sipp CPU s';
function row(r: Result, label: string): string {
  return (
    `${r.server.padEnd(11)} ${label.padStart(4)} ${fmt(r.load, 1).padStart(5)} ${fmt(r.rate).padStart(10)} ${fmt(r.created).padStart(7)} ${fmt(r.perSecond).padStart(13)}` +
    ` ${fmt(r.ok).padStart(10)} ${fmt(r.failures).padStart(7)} ${fmt(r.retransmissions).padStart(8)} ${fmt(r.cpu, 1).padStart(6)} ${fmt(r.idlePercent, 1).padStart(7)}` +
    ` ${fmt(r.cpuPerRegUs).padStart(11)} (${fmt(r.netCpuPerRegUs)})`.padEnd(26) +
    `  ${fmt(r.maxRssMiB).padStart(7)} / ${fmt(r.pssMiB).padEnd(14)} ${fmt(r.sippCpu, 1).padStart(10)}`
  );
}

const from = existsSync(join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js')) && process.env.KEYSWITCH_FROM_SOURCE !== '1' ? 'dist/' : 'sources via tsx';
const sippVersion = /SIPp v?([\d.]+)/.exec(spawnSync('sipp', ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?';
console.log(`bench:compare — ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}, keyswitch from ${from}, Kamailio ${kamailioVersion()} (${kamailioChildren} UDP workers, mode ${kamailioMode}), sipp ${sippVersion}`);
console.log(`Digest MD5 REGISTER, ${fmt(userCount)} users in turn, open loop for ${duration} s per run after ${warmupSeconds} s of warm-up at up to ${fmt(warmupRate)}/s, ${runs} runs (server order alternates), load average ${fmt(loadAverage(), 2)} at start; keyswitch's SBC–softswitch link ${process.env.KEYSWITCH_SBC_CORE_TRANSPORT ?? 'tcp'}`);
if (cpuProfDir) {
  mkdirSync(cpuProfDir, { recursive: true });
  console.log(`keyswitch under node --cpu-prof (profiles in ${cpuProfDir}): its CPU figures include the profiler`);
}
try {
  for (const rate of rates) {
    console.log(`\noffered ${fmt(rate)}/s\n${COLUMNS}`);
    const results: Result[] = [];
    for (let run = 1; run <= runs; run++) {
      const order = run % 2 ? servers : [...servers].reverse();
      for (const server of order) {
        const r = await measure(server, rate, run);
        results.push(r);
        console.log(row(r, String(run)));
        if (r.failures) console.log(`${''.padEnd(17)}(failed: ${[r.why, r.abandoned ? `still open at sipp's timeout ${fmt(r.abandoned)}` : ''].filter(Boolean).join(', ')})`);
        if (r.server === 'keyswitch' && Number.isFinite(r.gate.rejected)) {
          console.log(`${''.padEnd(17)}(SBC overload gate: ${fmt(r.gate.rejected)} new requests answered 503; steps of 100 ms overloaded by signal: ${OVERLOAD_SIGNALS.map((g) => `${g} ${fmt(r.gate.steps[g]!)}`).join(', ')}; softswitch: ${fmt(r.auc.shed)} answered 503 with the queue toward the AuC full, ${fmt(r.auc.errors)} AuC requests unanswered)`);
        }
        if (r.byRole.length) console.log(`${''.padEnd(17)}(µs CPU/reg by process: ${r.byRole.filter(([, us]) => us >= 1).map(([role, us]) => `${role} ${fmt(us)}`).join(', ')})`);
        if (r.server === 'keyswitch' && r.serverAccepted !== r.ok) {
          console.log(`${''.padEnd(17)}(keyswitch accepted ${fmt(r.serverAccepted)} registrations, sipp saw ${fmt(r.ok)} complete; ${fmt(r.serverRequests)} REGISTERs reached its softswitch)`);
        }
      }
    }
    const medians = new Map<Server, Result>();
    for (const server of servers) {
      const rs = results.filter((r) => r.server === server);
      const m = (f: (r: Result) => number) => median(rs.map(f));
      const med: Result = {
        server, rate, load: m((r) => r.load), created: m((r) => r.created), ok: m((r) => r.ok), failures: m((r) => r.failures), perSecond: m((r) => r.perSecond),
        retransmissions: m((r) => r.retransmissions), cpu: m((r) => r.cpu), cpuPerRegUs: m((r) => r.cpuPerRegUs), netCpuPerRegUs: m((r) => r.netCpuPerRegUs), idlePercent: m((r) => r.idlePercent), maxRssMiB: m((r) => r.maxRssMiB), pssMiB: m((r) => r.pssMiB), sippCpu: m((r) => r.sippCpu),
        serverRequests: m((r) => r.serverRequests), serverAccepted: m((r) => r.serverAccepted), why: '', abandoned: m((r) => r.abandoned), byRole: [], gate: { rejected: NaN, steps: {} }, auc: { shed: NaN, errors: NaN },
      };
      medians.set(server, med);
      console.log(row(med, 'med'));
    }
    const ks = medians.get('keyswitch');
    const kam = medians.get('kamailio');
    if (ks && kam) {
      console.log(
        `ratio keyswitch / Kamailio at ${fmt(rate)}/s offered: CPU per registration ${fmt(ks.cpuPerRegUs / kam.cpuPerRegUs, 1)}× (net of idle ${fmt(ks.netCpuPerRegUs / kam.netCpuPerRegUs, 1)}×),` +
          ` completed/s ${fmt(ks.perSecond / kam.perSecond, 2)}×, memory (PSS) ${fmt(ks.pssMiB / kam.pssMiB, 1)}×`,
      );
    }
  }
  console.log('\ncompleted/s: successful registrations ÷ seconds until the last one completed (at least the offered duration; 1 s resolution).');
  console.log('failed: calls sipp counted failed plus calls still open at its global timeout. CPU: utime+stime of the server and all its processes during the run;');
  console.log('net of idle: less the idle server\'s CPU rate (measured 3 s before the load) times the run\'s duration.');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
