/**
 * npx tsx bench/ks1-derive.ts [other-tree] [--count 50000] [--rounds 5]
 *
 * CPU per call of the KS1 derivations a registration makes at each party:
 * the AuC's makeVector (K_auth and K_wrap of Kc, K_wrap of Ksp, the
 * authenticator, two GCM wraps) and SessionKeys (K_mac and K_app-hmac of
 * Kc,sp, at the SBC and the terminal). With another tree's path, its
 * src/crypto/ks1.ts runs too, the two alternated round by round.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { count: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '5' } } });
const count = Number(a.count);
const rounds = Number(a.rounds);
type Ks1 = typeof import('../src/crypto/ks1.js');
const trees: Array<[string, Ks1]> = [['this tree', await import('../src/crypto/ks1.js')]];
if (positionals[0]) trees.unshift([positionals[0], (await import(join(resolve(positionals[0]), 'src/crypto/ks1.ts'))) as Ks1]);

const kc = randomBytes(32);
const ksp = randomBytes(32);
const rand = randomBytes(16);
const sessionKey = randomBytes(32);
const cpuUs = (fn: () => void): number => {
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i++) fn();
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / count;
};
const results = new Map<string, { vector: number[]; session: number[] }>(trees.map(([n]) => [n, { vector: [], session: [] }]));
for (let r = 0; r <= rounds; r++) {
  for (const [name, k] of trees) {
    const v = cpuUs(() => k.makeVector({ kc, ksp, idc: 'bench@lab.example', idsp: 'sbc1.lab.example', rand, sessionKey }));
    const s = cpuUs(() => new k.SessionKeys(sessionKey));
    if (r === 0) continue; // warm-up
    results.get(name)!.vector.push(v);
    results.get(name)!.session.push(s);
  }
}
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const [name, r] of results) {
  console.log(`${name}: makeVector ${med(r.vector).toFixed(2)} µs (${r.vector.map((x) => x.toFixed(2)).join(' ')}), SessionKeys ${med(r.session).toFixed(2)} µs (${r.session.map((x) => x.toFixed(2)).join(' ')})`);
}
