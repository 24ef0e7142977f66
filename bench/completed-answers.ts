/**
 * npx tsx bench/completed-answers.ts [tree]
 *
 * CPU time (process.cpuUsage, GC threads included) per completed non-INVITE server transaction
 * kept for Timer J by the stack's table (src/sip/transaction/completed.ts), in steady state: a
 * 500-byte answer serialised into Node's pool as the stack does, stored, looked up once, and
 * swept when its time is up. 40,000 answers/s with a 3-s life keeps ~120,000 live, as an SBC
 * at 1,000-2,000 registrations/s keeps for Timer J's 32 s. Median of 5 rounds of 2 s after 4 s
 * of warm-up. `tree`: another checkout's root, to compare trees in alternation.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as CompletedModule from '../src/sip/transaction/completed.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const { CompletedServers } = (await import(pathToFileURL(join(tree, 'src', 'sip', 'transaction', 'completed.ts')).href)) as typeof CompletedModule;
const shared = new Map<string, unknown>();
const table = new CompletedServers<unknown>(shared, 3000);
const transport = {} as never;
const dest = { address: '127.0.0.1', port: 5060 };
const template = Buffer.alloc(500, 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK');
let n = 0;
const perTick = 400; // every 10 ms: 40,000/s
async function run(ms: number): Promise<{ us: number; adds: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let adds = 0;
  while (performance.now() - t0 < ms) {
    const tick = performance.now();
    for (let i = 0; i < perTick; i++) {
      const b = Buffer.allocUnsafe(template.length);
      template.copy(b);
      const key = 'z9hG4bK' + (n++).toString(36) + '|127.0.0.1:5060|REGISTER';
      table.add(key, b, transport, dest);
      shared.get(key);
      adds++;
    }
    const left = 10 - (performance.now() - tick);
    await new Promise((r) => setTimeout(r, Math.max(0, left)));
  }
  const c = process.cpuUsage(c0);
  return { us: (c.user + c.system) / adds, adds };
}
await run(4000);
const rounds: number[] = [];
for (let r = 0; r < 5; r++) rounds.push((await run(2000)).us);
rounds.sort((a, b) => a - b);
console.log(`${tree} CPU µs per completed answer kept (${table.size} live): ${rounds.map((x) => x.toFixed(2)).join(' ')} median ${rounds[2]!.toFixed(2)}`);
table.clear();
