/**
 * npx tsx bench/redis-state.ts [-- --count 3000 --concurrency 32]
 *
 * The Redis cost of one registration's shared state, in this process against
 * a private redis-server on 127.0.0.1 (as test/helpers/redis.ts starts it):
 * the softswitch's binding steps (the order check read, the update's read and
 * commit) and the AuC's Rand (add, consume), side by side with the same steps
 * on the embedded SQLite store and memory. Prints wall time per registration
 * at the given concurrency, the Redis commands per registration (INFO
 * commandstats), and this process's CPU per registration.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_EXPIRES, Registrar } from '../src/softswitch/registrar.js';
import { parseNameAddr } from '../src/sip/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { connectRedis, type SharedRedis } from '../src/store/redis/index.js';
import { startRedis } from '../test/helpers/redis.js';

const { values: args } = parseArgs({ options: { count: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '32' } } });
const count = Number(args.count);
const concurrency = Number(args.concurrency);

/** Scripts run (EVALSHA/EVAL: one round trip each) and every command, those inside scripts included. */
async function commands(r: SharedRedis): Promise<{ scripts: number; all: number }> {
  const info = await r.run((c) => c.info('commandstats'));
  const n = { scripts: 0, all: 0 };
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (m[1] === 'info') continue;
    n.all += Number(m[2]);
    if (m[1] === 'evalsha' || m[1] === 'eval') n.scripts += Number(m[2]);
  }
  return n;
}

async function run(label: string, store: Store, redis?: SharedRedis): Promise<void> {
  const registrar = new Registrar(store.bindings, DEFAULT_EXPIRES, store.now);
  const one = async (i: number): Promise<void> => {
    const rand = randomBytes(16).toString('base64url');
    const aor = `u${i}@lab.example`;
    await store.challenges.add({ rand, idc: aor, idsp: 'sbc1', expiresAt: store.now() + 30_000 });
    const p = registrar.plan({ aor, callId: `c${i}`, cseq: 1, contacts: [parseNameAddr(`<sip:u${i}@192.0.2.10:5060>`, 'Contact')], expires: 3600, source: 'udp:192.0.2.10:5060', idsp: 'sbc1', mechanism: 'app-hmac' });
    if (!p.ok) throw new Error('plan');
    if (await registrar.wouldBeOutOfOrder(p.plan)) throw new Error('order');
    if (!(await store.challenges.consume(rand, aor, 'sbc1'))) throw new Error('consume');
    const r = await registrar.apply(p.plan);
    if (!r.ok) throw new Error('apply');
  };
  // warm-up (scripts loaded, statements prepared)
  for (let i = 0; i < 50; i++) await one(-1 - i);
  const before = redis ? await commands(redis) : { scripts: 0, all: 0 };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await one(next++);
  }));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = redis ? await commands(redis) : before;
  console.log(`${label.padEnd(26)} ${(ms * 1000 / count).toFixed(0).padStart(6)} µs wall/registration (${(count / ms * 1000).toFixed(0)}/s at ${concurrency} in flight), ${((cpu.user + cpu.system) / count).toFixed(0)} µs CPU here${redis ? `, ${((after.scripts - before.scripts) / count).toFixed(2)} Redis round trips (scripts)/registration running ${((after.all - before.all) / count).toFixed(1)} commands` : ''}`);
}

const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'ks-bench-redis-'));
try {
  console.log(`shared-state cost per registration: ${count} registrations, ${concurrency} in flight (the machine's load shows in these figures)`);
  const plain = await openStore({ dataDir: join(dir, 'a'), masterKeyHex: randomBytes(32).toString('hex') });
  await run('SQLite + memory', plain);
  await plain.close();
  const redis = connectRedis({ url: server.url, commandTimeoutMs: 5000 });
  await redis.ready(5000);
  const shared = await openStore({ dataDir: join(dir, 'b'), masterKeyHex: randomBytes(32).toString('hex'), redis });
  await run('Redis (127.0.0.1)', shared, redis);
  await shared.close();
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
