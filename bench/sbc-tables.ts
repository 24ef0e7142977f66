/**
 * npx tsx bench/sbc-tables.ts [tree] [--only name,name]
 *
 * The tables the SBC, the softswitch and the intrusion detection fill from the network, each held at
 * its bound by a flood of ever-new keys (sources, AoRs, calls), the way an attacker fills them: CPU
 * time (process.cpuUsage) per insert once full, median of 5 rounds, the real classes imported from
 * `tree` (another checkout's root, to compare two trees in alternation; default this one). Bounds are
 * the ones run.ts gives each table. A table whose cost per insert grows with the holes a Map keeps
 * for deleted entries shows it here (docs/performance.md, "SBC and softswitch tables under attack").
 *
 *   guard       SignatureGuard.fail, one failure from each new source (10,000 counters)
 *   guard-block SignatureGuard.fail, each new source blocked at once (threshold 1, 10,000 blocks held)
 *   failures    FailureCounter.count, one failure from each new source (100,000 sources)
 *   dialogs     DialogTable.open, a new call each (1,000,000 dialogs held), and the 10-s sweep
 *   location    LocationCache.lookup, a new AoR each (100,000 AoRs)
 *   partners    PartnerTable.touch, a new flow each (100,000 flows)
 *   known       SoftswitchCallRouter's cache of `known` answers: its Map and bound reproduced (10,000),
 *               since the router reaches it only through a routed INVITE
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as GuardModule from '../src/sbc/signing/guard.js';
import type * as FailuresModule from '../src/sbc/sip-failures.js';
import type * as DialogsModule from '../src/sbc/dialogs.js';
import type * as LocationModule from '../src/softswitch/location-cache.js';
import type * as PartnersModule from '../src/ids/partners.js';

const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1]!.split(',')) : undefined;
const positional = args.filter((a, i) => !a.startsWith('--') && !(onlyAt >= 0 && i === onlyAt + 1));
const tree = resolve(positional[0] ?? join(import.meta.dirname, '..'));
const load = async <T>(...p: string[]): Promise<T> => (await import(pathToFileURL(join(tree, 'src', ...p)).href)) as T;
const want = (name: string): boolean => !only || only.has(name);

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const src = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${1024 + (i % 60000)}`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const report = (name: string, what: string, runs: number[]): void =>
  console.log(`${name.padEnd(12)} ${median(runs).toFixed(2).padStart(8)} µs ${what} (rounds: ${runs.map((x) => x.toFixed(2)).join(' ')})`);

/** Runs `fill` inserts, then 5 rounds of `count`, each timed; µs per insert. */
function rounds(fill: number, count: number, insert: (i: number) => void): number[] {
  let n = 0;
  for (; n < fill; n++) insert(n);
  const out: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = cpu();
    for (const end = n + count; n < end; n++) insert(n);
    out.push((cpu() - t0) / count);
  }
  return out;
}

console.log(`tree ${tree}`);
const clock = Date.UTC(2026, 0, 1);
const now = (): number => clock;

if (want('guard')) {
  const { SignatureGuard } = await load<typeof GuardModule>('sbc', 'signing', 'guard.ts');
  const g = new SignatureGuard({ now });
  report('guard', 'per failure from a new source, 10,000 counters', rounds(30_000, 20_000, (i) => void g.fail(src(i))));
}
if (want('guard-block')) {
  const { SignatureGuard } = await load<typeof GuardModule>('sbc', 'signing', 'guard.ts');
  const g = new SignatureGuard({ now, threshold: 1 });
  report('guard-block', 'per new source blocked, 10,000 blocks in force', rounds(12_000, 4_000, (i) => void g.fail(src(i))));
}
if (want('failures')) {
  const { FailureCounter } = await load<typeof FailuresModule>('sbc', 'sip-failures.ts');
  const f = new FailureCounter(100_000, now);
  report('failures', 'per failure from a new source, 100,000 sources', rounds(250_000, 40_000, (i) => void f.count(src(i), 'forbidden')));
}
if (want('dialogs')) {
  const { DialogTable } = await load<typeof DialogsModule>('sbc', 'dialogs.ts');
  const d = new DialogTable(24 * 3600_000, 1_000_000, now);
  const open = (i: number): void => void d.open({ callId: `c${i}@192.0.2.1`, callerTag: `a${i}`, calleeTag: `b${i}`, direction: 'outbound', caller: { idc: `u${i & 1023}@lab.example` } });
  report('dialogs', 'per call opened, 1,000,000 dialogs held', rounds(1_020_000, 5_000, open));
  // Calls that end (BYE) in the order they began, while new ones start: the sweep every 10 s walks from the head.
  const d2 = new DialogTable(3600_000, 1_000_000, now);
  let k = 0;
  for (; k < 200_000; k++) open2(k);
  function open2(i: number): void {
    d2.open({ callId: `s${i}`, callerTag: 'a', calleeTag: 'b', direction: 'outbound' });
  }
  const sweeps: number[] = [];
  for (let r = 0; r < 5; r++) {
    // 20,000 calls end, the oldest but one (a long call holds the head), and 20,000 begin
    for (let j = k - 199_999; j < k - 179_999; j++) d2.close(`s${j}`, 'a', 'b');
    for (const end = k + 20_000; k < end; k++) open2(k);
    const t0 = cpu();
    d2.sweep();
    sweeps.push(cpu() - t0);
  }
  report('dialog-sweep', 'per sweep (one long call at the head, 200,000 held)', sweeps);
}
if (want('location')) {
  const { LocationCache } = await load<typeof LocationModule>('softswitch', 'location-cache.ts');
  const none: never[] = [];
  const c = new LocationCache({ current: () => Promise.resolve(none) }, { now });
  const count = 40_000;
  let n = 0;
  for (; n < 250_000; n++) await c.lookup(`u${n}@lab.example`);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = cpu();
    for (const end = n + count; n < end; n++) await c.lookup(`u${n}@lab.example`);
    runs.push((cpu() - t0) / count);
  }
  // the same with the cache's map never full: the lookup's own cost (a miss and its promise)
  const base: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c2 = new LocationCache({ current: () => Promise.resolve(none) }, { now });
    const t0 = cpu();
    for (let j = 0; j < count; j++) await c2.lookup(`v${r}.${j}@lab.example`);
    base.push((cpu() - t0) / count);
  }
  report('location', 'per lookup of a new AoR, 100,000 AoRs cached', runs);
  report('location0', 'per lookup of a new AoR, cache far from full (the miss itself)', base);
}
if (want('partners')) {
  const { PartnerTable } = await load<typeof PartnersModule>('ids', 'partners.ts');
  const p = new PartnerTable('flow', 100_000);
  report('partners', 'per new flow, 100,000 flows', rounds(250_000, 40_000, (i) => void p.touch(src(i), clock)));
}
if (want('known')) {
  // src/softswitch/sip-route.ts #isKnown's table, as it stands in this tree (read from its source).
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(join(tree, 'src', 'softswitch', 'sip-route.ts'), 'utf8');
  const batched = /dropOldest\(this\.#known/.test(text);
  const known = new Map<string, { value: boolean; at: number }>();
  const put = batched
    ? (aor: string): void => {
        if (known.size >= 10_000 && !known.has(aor)) {
          let d = 0;
          for (const k of known.keys()) {
            known.delete(k);
            if (++d >= 625) break;
          }
        }
        known.set(aor, { value: false, at: clock });
      }
    : (aor: string): void => {
        if (known.size >= 10_000) known.delete(known.keys().next().value!);
        known.set(aor, { value: false, at: clock });
      };
  report('known', `per new AoR asked (${batched ? 'sixteenth cut' : 'one at a time'}), 10,000 answers`, rounds(30_000, 20_000, (i) => put(`u${i}@lab.example`)));
}
