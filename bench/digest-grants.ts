/**
 * npx tsx bench/digest-grants.ts [--rate 3000] [--seconds 200] [--users 1000] [--runs 3] [--unreported 0]
 *
 * The AuC's in-process challenge store on the Digest path alone: per request
 * one Digest grant (`grantDigest`, as the AuC's Digest answer makes) and, for
 * all but `--unreported` of every 100, the requester's report using it up
 * (`consumeDigestGrant`), at `--rate` requests per second of simulated time
 * with the AuC's default 30 s challenge life, so the store holds what it holds
 * in service (used grants until they expire, the once-a-second sweep).
 * Prints CPU µs per request (user + system, one core, GC included) and the
 * store's size at the end. The first run warms up and is not counted.
 */
import { parseArgs } from 'node:util';
import { MemoryChallengeStore } from '../src/store/volatile/challenges.js';

const { values: a } = parseArgs({
  options: {
    rate: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '200' },
    users: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    unreported: { type: 'string', default: '0' },
  },
});
const rate = Number(a.rate);
const seconds = Number(a.seconds);
const users = Number(a.users);
const runs = Number(a.runs);
const unreported = Number(a.unreported);
const TTL = 30_000;
const idcs = Array.from({ length: users }, (_, i) => `user${i}@lab.example`);
const requester = 'radius:127.0.0.1';

async function run(): Promise<{ us: number; size: number }> {
  let now = 1_900_000_000_000;
  const s = new MemoryChallengeStore(() => now);
  const n = rate * seconds;
  const step = 1000 / rate;
  let t = now;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    t += step;
    now = Math.floor(t);
    const idc = idcs[i % users]!;
    await s.grantDigest(idc, requester, now + TTL);
    if (i % 100 >= unreported && !(await s.consumeDigestGrant(idc, requester))) throw new Error('grant not found');
  }
  const c = process.cpuUsage(c0);
  return { us: (c.user + c.system) / n, size: s.size };
}

const results: number[] = [];
for (let r = 0; r <= runs; r++) {
  const { us, size } = await run();
  if (r > 0) results.push(us);
  console.log(`${r === 0 ? 'warm-up' : `run ${r}`}: ${us.toFixed(3)} µs per request (grant + report), ${size} held at the end`);
}
results.sort((x, y) => x - y);
console.log(`median ${results[results.length >> 1]!.toFixed(3)} µs per request; rate ${rate}/s, ${seconds} s simulated, ${users} users, ${unreported} % unreported`);
