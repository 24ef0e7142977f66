/**
 * npx tsx bench/duplicate-cache-cap.ts [tree]
 *
 * The RADIUS server's duplicate cache (src/radius/duplicate-cache.ts) held at its cap (65,536) by a
 * stream of new requests none of which has expired: every 4,097th makes room by cutting the oldest.
 * Prints the CPU time (process.cpuUsage) per `begin()`, median of 7 rounds of 500,000 after one
 * unmeasured round. `tree`: another checkout's root, to compare two trees in alternation.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as CacheModule from '../src/radius/duplicate-cache.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const { DuplicateCache } = (await import(pathToFileURL(join(tree, 'src', 'radius', 'duplicate-cache.ts')).href)) as typeof CacheModule;

const ROUND = 500_000;
const keys = Array.from({ length: ROUND * 8 }, (_, i) => `192.0.2.${i & 255}|1812|${i.toString(36).padStart(17, '.')}`);
const cache = new DuplicateCache(30_000, 65_536);
let next = 0;
const round = (): number => {
  const t = process.cpuUsage();
  for (let i = 0; i < ROUND; i++, next++) cache.begin(keys[next]!, 1_000 + (next >> 12));
  const u = process.cpuUsage(t);
  return ((u.user + u.system) * 1000) / ROUND;
};
round();
const ns = Array.from({ length: 7 }, round).sort((a, b) => a - b);
console.log(`${tree}: ${ns[3]!.toFixed(0)} ns CPU per begin() at the cap (median of 7 rounds of ${ROUND}; size ${cache.size})`);
