/**
 * npx tsx bench/auc-vector.ts [tree…] [--count 20000] [--rounds 5] [--terminals 1000]
 *
 * The AuC core's own CPU per KS1 vector, without a wire: `vector()` for a
 * provisioned terminal and one SBC, then `registered()` on its Rand (the
 * report every successful registration makes), `--count` times a round, on
 * the embedded store (SQLite) in a temporary directory. Each tree (another
 * checkout's root, built with `npm run build`; default this one) runs from its
 * `dist/` in a child process of its own, the trees one round each in turn, so
 * that the machine's swings fall on both alike. Prints µs of CPU (user +
 * system) per vector and report, the median of `--rounds` rounds after one not
 * counted, per tree. KS_BENCH_CPU_PROF=DIR: each child under --cpu-prof, its profile in DIR.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    terminals: { type: 'string', default: '1000' },
    child: { type: 'string' },
  },
});
const count = Number(a.count);
const rounds = Number(a.rounds);
const terminals = Number(a.terminals);
const idsp = 'sbc.bench.example';

if (a.child) {
  const dist = join(a.child, 'dist', 'src');
  const { openStore } = (await import(join(dist, 'store', 'index.js'))) as typeof import('../src/store/index.js');
  const { Auc } = (await import(join(dist, 'auc', 'auc.js'))) as typeof import('../src/auc/auc.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-auc-vector-'));
  const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex'), onNotice: () => undefined });
  for (let i = 0; i < terminals; i++) await store.terminals.create(`t${i}@bench.example`, randomBytes(32));
  await store.proxies.create(idsp, randomBytes(32));
  const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 5, windowSeconds: 60, baseSeconds: 10, maxSeconds: 600 } });
  const from = 'diameter:bench';
  const round = async (): Promise<number> => {
    const start = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      const idc = `t${i % terminals}@bench.example`;
      const v = await auc.vector({ idc, idsp }, from);
      if (!v.ok) throw new Error(`no vector: ${v.reason}`);
      await auc.registered({ idc, idsp, ipc: '192.0.2.1', protocol: 'sip', contact: `<sip:${idc}>`, mechanism: 'app-hmac', expiresAt: Date.now() + 3600_000, rand: v.vector.rand }, from);
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) / count;
  };
  await round();
  process.on('message', (m) => {
    if (m === 'round') void round().then((us) => process.send!(us));
    else void store.close().then(() => (rmSync(dataDir, { recursive: true, force: true }), process.exit(0)));
  });
  process.send!('ready');
} else {
  const trees = positionals.length ? positionals.map((p) => resolve(p)) : [resolve(import.meta.dirname, '..')];
  const self = fileURLToPath(import.meta.url);
  const children = trees.map((t) => fork(self, ['--child', t, '--count', String(count), '--terminals', String(terminals)], { execArgv: ['--import', 'tsx', ...(process.env.KS_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KS_BENCH_CPU_PROF}`] : [])] }));
  await Promise.all(children.map((c) => new Promise((ok) => c.once('message', ok))));
  const results: number[][] = trees.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < trees.length; i++) {
      children[i]!.send('round');
      results[i]!.push((await new Promise((ok) => children[i]!.once('message', ok))) as number);
    }
    process.stdout.write(`round ${r + 1}/${rounds}: ${results.map((x) => x[r]!.toFixed(1)).join(' / ')} µs\n`);
  }
  const median = (xs: number[]): number => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  for (let i = 0; i < trees.length; i++) {
    process.stdout.write(`${trees[i]}: ${median(results[i]!).toFixed(1)} µs of CPU per vector and report (median of ${rounds}; rounds ${results[i]!.map((x) => x.toFixed(1)).join(', ')})\n`);
    children[i]!.send('stop');
  }
}
