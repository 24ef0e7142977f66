/**
 * npm run bench:scale-out [-- --count 2000 --rate 400 --runs 3 --overload on|off]
 *
 * Registrations per second through one and through two SBC instances, each
 * pinned to its own core (taskset), in the network-namespace lab of the
 * scale-out tests (test/scale-out/lab.ts: AuC, one softswitch, SBC hosts,
 * Debian's redis-server, PostgreSQL through a forwarder), without and with
 * `redis.url`; for each, the SBCs' CPU per registration, and with Redis the
 * commands per registration and their cost (Redis's own time per command and
 * the round trip from an SBC host; the roles' own background work, watched
 * for 5 s with no traffic, is taken off), Redis memory per registered
 * terminal. Needs root, iproute2, redis-server,
 * taskset and PostgreSQL (KEYSWITCH_TEST_PG_URL). docs/scale-out.md reads it.
 *
 * Each terminal host offers `--rate` registrations/s (KS1, app-hmac over UDP)
 * of `--count` provisioned terminals; the figure is the registrations that
 * completed per second of the run. The softswitch and the AuC are shared by
 * both instances and run unpinned: on a small machine they, not the SBCs, may
 * be what limits the two-instance figure (the CPU per registration shows it).
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { PG_URL } from '../test/helpers/engines.js';
import { Lab, labUnavailable } from '../test/scale-out/lab.js';
import { cpuSeconds } from './proc-stat.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '400' },
    runs: { type: 'string', default: '3' },
    /** `off`: the SBC's overload gate ignores event-loop lag and the core's delay (a machine loaded by other work). */
    overload: { type: 'string', default: 'on' },
  },
});
const count = Number(args.count);
/** How long the roles are watched with no traffic before each configuration's runs. */
const IDLE_MS = 5000;
const rate = Number(args.rate);
const runs = Number(args.runs);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const why = await labUnavailable(PG_URL, { redis: true });
if (why) {
  console.error(`bench:scale-out: cannot run here: ${why}`);
  process.exit(1);
}
if (spawnSync('taskset', ['-V']).status !== 0) {
  console.error('bench:scale-out: no taskset (util-linux)');
  process.exit(1);
}
const cores = cpus().length;
console.log(`bench:scale-out: ${cores} cores, ${cpus()[0]?.model ?? '?'}; ${fmt(count)} terminals per host offered at ${fmt(rate)}/s, median of ${runs}; overload gate ${args.overload}`);
if (cores < 3) console.log('  (fewer than 3 cores: the SBCs are pinned to cores 0 and 1, which the softswitch, the AuC, Redis and the load share)');

const lab = await Lab.open({ pgUrl: PG_URL, hosts: ['auc', 'redis', 'ss-a', 'sbc-a', 'sbc-b', 't1', 't2'], logLevel: 'error' });
const stopAll = async () => {
  for (const n of ['sbc-a', 'sbc-b', 'ss-a', 'auc']) await lab.stop(n);
};
try {
  lab.provisionPool();
  process.stderr.write(`provisioning ${fmt(2 * count)} terminals…\n`);
  const keysA = lab.provisionMany(count, 'a');
  const keysB = lab.provisionMany(count, 'b');
  await lab.startRedis();
  const usedMemory = () => Number(/^used_memory:(\d+)/m.exec(lab.redisCli('INFO', 'memory'))?.[1] ?? NaN);
  const emptyMemory = usedMemory();
  let afterA = NaN;
  /** The commands of the last run with Redis, per registration (idle work included). */
  let lastMix = '';

  /** One host's load: `count` registrations at `rate`/s; completions and the span they took. */
  const load = async (host: string, sbc: string, keys: string) => {
    const t = lab.terminal(host, 'register', ['--keys-file', keys, '--count', String(count), '--rate', String(rate), '--sbc', `${lab.addr(sbc)}:5060`, '--mechs', 'app-hmac;q=0.5', '--timeout', '10']);
    const t0 = performance.now();
    let last = t0;
    t.proc.stdout!.on('data', (d: Buffer) => {
      if (d.includes('"ok":true')) last = performance.now();
    });
    await t.done;
    const ok = t.list.filter((e) => e.ok === true).length;
    for (const e of t.list) if (e.ok !== true) reasons.set(String(e.error), (reasons.get(String(e.error)) ?? 0) + 1);
    return { ok, failed: t.list.length - ok, seconds: (last - t0) / 1000 };
  };

  const reasons = new Map<string, number>();
  const rows: string[] = [];
  let singleNoRedis = 0;
  for (const redis of [false, true]) {
    for (const instances of [1, 2]) {
      // all of a host's terminals come from one address: the intrusion detection would take that for a flood
      const env = {
        KEYSWITCH_IDS: 'off',
        ...(redis ? {} : { KEYSWITCH_REDIS_URL: '' }),
        ...(args.overload === 'off' ? { KEYSWITCH_OVERLOAD_SBC_LAG_MS: '0', KEYSWITCH_OVERLOAD_SBC_CORE_DELAY_MS: '0' } : {}),
      };
      await lab.start('auc', 'auc', { env });
      await lab.start('ss-a', 'ss-a', { env });
      const sbcs = instances === 1 ? ['sbc-a'] : ['sbc-a', 'sbc-b'];
      await Promise.all(sbcs.map((h, i) => lab.start(h, h, { env, cpu: i % cores })));
      const pids = sbcs.map((h) => lab.procs.get(h)!.proc.pid!);
      const perRun: number[] = [];
      const cpuPer: number[] = [];
      const cmdsPer: number[] = [];
      const usecPer: number[] = [];
      let failed = 0;
      // what the roles do with no traffic (timers, the IDS's exchange, expiry sweeps), per second, taken off below
      if (redis) lab.redisCli('CONFIG', 'RESETSTAT');
      const idle0 = { cpu: cpuSeconds(pids), t: performance.now() };
      await new Promise((r) => setTimeout(r, IDLE_MS));
      const idleSeconds = (performance.now() - idle0.t) / 1000;
      const idle = { cpu: (cpuSeconds(pids) - idle0.cpu) / idleSeconds, ...perSecondOf(redis ? commandStats(lab.redisCli('INFO', 'commandstats')) : { calls: 0, usec: 0 }, idleSeconds) };
      for (let r = 0; r < runs; r++) {
        if (redis) lab.redisCli('CONFIG', 'RESETSTAT');
        const cpu0 = cpuSeconds(pids);
        const t0 = performance.now();
        const results = await Promise.all(sbcs.map((h, i) => load(`t${i + 1}`, h, i === 0 ? keysA : keysB)));
        const cpu1 = cpuSeconds(pids);
        const span = (performance.now() - t0) / 1000;
        const ok = results.reduce((s, x) => s + x.ok, 0);
        failed += results.reduce((s, x) => s + x.failed, 0);
        perRun.push(ok / Math.max(...results.map((x) => x.seconds)));
        cpuPer.push(((cpu1 - cpu0 - idle.cpu * span) * 1e6) / Math.max(1, ok));
        if (redis) {
          const info = lab.redisCli('INFO', 'commandstats');
          const stats = commandStats(info);
          lastMix = [...commandCalls(info)].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([c, n]) => `${c} ${fmt(n / Math.max(1, ok), 1)}`).join(', ');
          cmdsPer.push((stats.calls - idle.calls * span) / Math.max(1, ok));
          usecPer.push((stats.usec - idle.usec * span) / Math.max(1, ok));
        }
        if (redis && instances === 1 && r === 0) afterA = usedMemory();
      }
      const rps = median(perRun);
      if (!redis && instances === 1) singleNoRedis = rps;
      rows.push(`| ${instances} | ${redis ? 'yes' : 'no'} | ${fmt(rps)} | ${fmt(rps / singleNoRedis, 2)}× | ${fmt(median(cpuPer))} | ${fmt(1e6 / median(cpuPer))} | ${redis ? fmt(median(cmdsPer), 1) : '–'} | ${redis ? fmt(median(usecPer), 1) : '–'} | ${failed} |`);
      await stopAll();
    }
  }
  console.log('\n| SBC instances | Redis | registrations/s | vs 1 without Redis | SBC CPU µs/reg (all instances) | reg/s one core of SBC would do | Redis commands/reg | Redis server µs/reg | failed |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  if (lastMix) console.log(`Redis commands per registration, last run (idle work not taken off): ${lastMix}`);
  if (reasons.size > 0) console.log(`failures: ${[...reasons].map(([k, v]) => `${v}× ${k}`).join('; ')}`);

  // what one more registered terminal holds in Redis: host 2's terminals added by the last phase to host 1's
  // (includes the seen-N1 entries of the registrations of the last ~30 s, which expire)
  const perTerminal = (usedMemory() - afterA) / count;
  console.log(`\nRedis memory per registered terminal (used_memory as ${fmt(count)} terminals were added to ${fmt(count)}; empty Redis ${fmt(emptyMemory)} bytes): ${fmt(perTerminal)} bytes`);
  // the round trip an SBC host pays per Redis command (no pipelining): redis-benchmark PING from sbc-a, one connection
  const rtt = spawnSync('ip', ['netns', 'exec', lab.ns('sbc-a'), 'redis-benchmark', '-h', lab.addr('redis'), '-p', '6379', '-c', '1', '-n', '20000', '-t', 'ping', '-q', '--csv'], { encoding: 'utf8' });
  const perSecond = Number(/"PING_INLINE","([\d.]+)"/.exec(rtt.stdout)?.[1] ?? /"PING_MBULK","([\d.]+)"/.exec(rtt.stdout)?.[1] ?? NaN);
  if (Number.isFinite(perSecond)) console.log(`Redis round trip from an SBC host (redis-benchmark PING, 1 connection): ${fmt(1e6 / perSecond, 1)} µs`);
  else console.log(`\nredis-benchmark gave no PING figure: ${rtt.stdout}${rtt.stderr}`);
  console.log('Figures from a shared 2-core machine are noisy; see docs/scale-out.md for how to read them.');
} finally {
  await lab.close();
}

/** `INFO commandstats` per command: calls. */
function commandCalls(info: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) m.set(x[1]!, Number(x[2]));
  return m;
}

function perSecondOf(x: { calls: number; usec: number }, seconds: number): { calls: number; usec: number } {
  return { calls: x.calls / seconds, usec: x.usec / seconds };
}

/** Totals of `INFO commandstats`: calls and server-side µs over every command (INFO itself excluded). */
function commandStats(info: string): { calls: number; usec: number } {
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) {
    if (m[1] === 'info' || m[1] === 'config') continue;
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { calls, usec };
}
