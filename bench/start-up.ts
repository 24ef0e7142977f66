/**
 * How long keyswitch takes to start: an operator command on the embedded store
 * (`list terminals`), `--help`, and `keyswitch up` on a fresh data directory
 * until it prints its listeners. Each run is a new process tree; CPU is user +
 * system of the whole tree (the roles of `up` included), from wait4's rusage.
 *
 *   npm run build && npm run bench:start-up -- [--runs 7] [--vs /path/to/other/bin/keyswitch.js]
 *
 * With --vs the two programs are run alternately, so that a change of the
 * machine's speed falls on both. Run it on a quiet machine.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, vs: { type: 'string' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('npm run bench:start-up -- [--runs N] [--vs OTHER_BIN]: median wall and CPU of `list terminals`, `--help` and `keyswitch up` (to its listeners line), fresh data directory each run; run `npm run build` first');
  process.exit(0);
}
const runs = Math.max(1, Number(values.runs) || 7);
const here = resolve('bin/keyswitch.js');
const programs: [string, string][] = [['this tree', here], ...(values.vs ? [['--vs', resolve(values.vs)] as [string, string]] : [])];

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/**
 * One run in a shell that waits for it: wall from the start to the exit (or to
 * `readyLine` in its output, then it is stopped), and CPU as the shell's
 * cutime + cstime in /proc/<pid>/stat, which hold every process it waited for,
 * the roles of `up` included (start and stop).
 */
function run(bin: string, args: string[], dataDir: string, readyLine?: RegExp): Promise<Sample> {
  const node = `node ${JSON.stringify(bin)} ${args.join(' ')}`;
  const script = readyLine
    ? `t0=$(date +%s%N); ${node} > "$D/out" 2>&1 & p=$!; until grep -qE ${JSON.stringify(readyLine.source)} "$D/out" 2>/dev/null; do kill -0 $p 2>/dev/null || exit 3; sleep 0.005; done; t1=$(date +%s%N); kill -TERM $p; wait $p; echo $(( (t1 - t0) / 1000 )); cat /proc/$$/stat`
    : `t0=$(date +%s%N); ${node} > /dev/null 2>&1; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); cat /proc/$$/stat`;
  return new Promise((done, fail) => {
    const sh = spawn('bash', ['-c', script], { env: { ...process.env, D: dataDir, KEYSWITCH_DATA_DIR: join(dataDir, 'data'), KEYSWITCH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
    sh.on('error', fail);
    sh.on('close', (code) => {
      const [micros, stat] = out.trim().split('\n');
      const fields = (stat ?? '').replace(/^.*\) /, '').split(' ');
      // after the command name: field 16 and 17 of stat (cutime, cstime) are 13 and 14 here, in clock ticks of 10 ms
      const ticks = Number(fields[13]) + Number(fields[14]);
      if (code !== 0 || !Number.isFinite(ticks)) return fail(new Error(`${args.join(' ')}: exit ${code}`));
      done({ wallMs: Number(micros) / 1000, cpuMs: ticks * 10 });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const cases: { name: string; args: string[]; ready?: RegExp; prepare?: boolean }[] = [
  { name: '--help', args: ['--help'] },
  { name: 'list terminals (SQLite)', args: ['list', 'terminals'], prepare: true },
  { name: 'up, to its listeners line', args: ['up'], ready: /SBC H\.248 \(gateways\)/ },
];

const results = new Map<string, Sample[]>();
for (const c of cases) {
  for (let i = 0; i < runs; i++) {
    for (const [label, bin] of programs) {
      const dir = mkdtempSync(join(tmpdir(), 'ks-start-up-'));
      try {
        if (c.prepare) await run(bin, ['--init', 'list', 'terminals'], dir);
        const key = `${c.name} | ${label}`;
        results.set(key, [...(results.get(key) ?? []), await run(bin, c.args, dir, c.ready)]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  process.stderr.write(`bench:start-up: ${c.name} done\n`);
}

console.log(`node ${process.version}, ${runs} runs each${programs.length > 1 ? `, alternated with ${programs[1]![1]}` : ''}; medians`);
console.log('case | program | wall to exit or listeners, ms | CPU of the process tree (start and stop), ms');
for (const [key, r] of results) console.log(`${key} | ${median(r.map((s) => s.wallMs)).toFixed(0)} | ${median(r.map((s) => s.cpuMs)).toFixed(0)}`);
