/**
 * What the H.248 registration path leaves for the garbage collector, all parties in one process (gateways,
 * SBC relay, softswitch, an in-memory AuC): 1,000 gateways re-register (KS1 s1..s10 and a protected Notify),
 * 16 at a time, for 7 s. With `--live`, a sampling heap profile taken 3 s in, over 4 s, prints what is still
 * alive at its end by allocation site (the objects minor GCs collected are left out). Run under
 * `node --trace-gc-nvp`, the trace has each scavenge's pause and the bytes it promoted; `--summary FILE` reads them.
 *
 *   node --trace-gc-nvp --import tsx bench/h248-gc.ts > /tmp/nvp.txt; npx tsx bench/h248-gc.ts --summary /tmp/nvp.txt
 *   npx tsx bench/h248-gc.ts --live
 */
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { oneKeyAuc } from './one-key-auc.js';
import { startH248Relay } from '../src/sbc/h248-relay.js';
import { startH248Softswitch } from '../src/softswitch/h248-mgc.js';
import { openH248Gateway, type H248Gateway } from '../src/terminal/h248-gateway.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (process.argv[2] === '--summary') {
  // scavenges after the first quarter (set-up and warm-up): pause and bytes promoted each
  const rows = readFileSync(process.argv[3]!, 'utf8').split('\n').filter((l) => l.includes(' gc=s '))
    .map((l) => Object.fromEntries(l.split(/\s+/).filter((kv) => kv.includes('=')).map((kv) => kv.split('=') as [string, string])));
  const steady = rows.slice(Math.floor(rows.length / 4));
  const col = (k: string) => steady.map((r) => Number(r[k]));
  const pauses = col('pause');
  console.log(`scavenges ${steady.length}: pause median ${median(pauses).toFixed(2)} ms, p90 ${[...pauses].sort((a, b) => a - b)[Math.floor(0.9 * pauses.length)]!.toFixed(2)} ms, sum ${pauses.reduce((a, b) => a + b, 0).toFixed(0)} ms; promoted median ${(median(col('promoted')) / 1024).toFixed(0)} KB, survived in new space median ${(median(col('new_space_survived')) / 1024).toFixed(0)} KB`);
  process.exit(0);
}

const IDSP = 'sbc1.bench.example';
const { auc, kc: KC, ksp: KSP } = oneKeyAuc();
const live = process.argv.includes('--live');
const ss = await startH248Softswitch({ listen: { host: '127.0.0.1', port: 0 }, auc });
const sbc = await startH248Relay({ listen: { host: '127.0.0.1', port: 0 }, softswitch: { host: '127.0.0.1', port: ss.port }, sbc: { idsp: IDSP, ksp: KSP } });
const gws: H248Gateway[] = [];
for (let i = 0; i < 1000; i++) gws.push(await openH248Gateway({ idc: `g${i}@bench.example`, kc: KC, sbc: { host: '127.0.0.1', port: sbc.port }, local: { host: '127.0.0.1' } }));
let stop = false;
let done = 0;
const worker = async (k: number) => {
  for (let i = k; !stop; i += 16) {
    const g = gws[i % gws.length]!;
    if ((await g.register()).ok) await g.notify('ROOT', 'g/sc', {});
    done++;
    await new Promise((r) => setTimeout(r, 20));
  }
};
const workers = Array.from({ length: 16 }, (_, k) => worker(k));
const session = new Session();
session.connect();
await new Promise((r) => setTimeout(r, 3000));
if (live) await session.post('HeapProfiler.startSampling', { samplingInterval: 4096 });
await new Promise((r) => setTimeout(r, 4000));
type Node = { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] };
const profile = live ? ((await session.post('HeapProfiler.getSamplingProfile')) as { profile: { head: Node } }).profile : undefined;
stop = true;
await Promise.all(workers);
console.log(`registrations ${done}`);
if (profile) {
  const by = new Map<string, number>();
  const walk = (n: Node) => {
    const name = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}`;
    if (n.selfSize) by.set(name, (by.get(name) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  console.log(`alive at the end, sampled: ${(total / 1024).toFixed(0)} KB; by allocation site:`);
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${(v / 1024).toFixed(0).padStart(7)} KB  ${k}`);
}
for (const g of gws) g.close();
sbc.close();
ss.close();
