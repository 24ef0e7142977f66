/**
 * npx tsx bench/registrar-store.ts [tree] [--engine sqlite]
 *
 * The softswitch's binding write as a Digest refresh makes it: Registrar.apply
 * of one contact whose binding is live (read of the AoR, update of its row,
 * COMMIT), two REGISTERs per group commit as at ~1,000/s, on a SQLite store in
 * a temp dir with 1,000 users registered. Prints the CPU time
 * (process.cpuUsage) per write, median of 5 rounds of 10,000. `tree`: another
 * checkout's root, to compare two trees in alternation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as StoreModule from '../src/store/index.js';
import type * as RegistrarModule from '../src/softswitch/registrar.js';
import type * as SipModule from '../src/sip/index.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const load = async <T>(p: string): Promise<T> => (await import(pathToFileURL(join(tree, 'src', p)).href)) as T;
const { openStore } = await load<typeof StoreModule>('store/index.ts');
const { Registrar, DEFAULT_EXPIRES } = await load<typeof RegistrarModule>('softswitch/registrar.ts');
const { parseNameAddr } = await load<typeof SipModule>('sip/index.ts');

const dir = mkdtempSync(join(tmpdir(), 'ks-bench-store-'));
let now = 1_900_000_000_000;
const store = await openStore({ dataDir: dir, createDataDir: true, now: () => now, onNotice: () => undefined });
const registrar = new Registrar(store.bindings, DEFAULT_EXPIRES, () => now);
const USERS = 1000;
const contact = (u: number) => [parseNameAddr(`<sip:user${u}@192.0.2.${(u % 250) + 1}:${5060 + (u % 1000)};transport=udp>`, "Contact")];
let cseq = 1;
const plan = (u: number) => {
  const p = registrar.plan({ aor: `user${u}@lab.example`, callId: `call-${cseq}@192.0.2.1`, cseq: cseq++, contacts: contact(u) as never, expires: 3600, source: 'udp:127.0.0.1:5062', idsp: 'sbc.lab.example', mechanism: '' });
  if (!p.ok) throw new Error('plan');
  return p.plan;
};
let u = 0;
async function round(count: number): Promise<number> {
  const plans = Array.from({ length: count }, () => plan(u++ % USERS));
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i += 2) {
    now += 1;
    const r = await Promise.all([registrar.apply(plans[i]!), registrar.apply(plans[i + 1]!)]);
    if (!r[0].ok || !r[1].ok) throw new Error('apply');
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / count;
}
await round(USERS * 3);
const per: number[] = [];
for (let i = 0; i < 5; i++) per.push(await round(10_000));
per.sort((a, b) => a - b);
console.log(`${tree}: ${per.map((x) => x.toFixed(1)).join(' / ')} µs CPU per binding write (median ${per[2]!.toFixed(1)})`);
await store.close();
rmSync(dir, { recursive: true, force: true });
