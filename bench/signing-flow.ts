/**
 * The SBC signer's work for one call, in CPU µs, for one or more trees
 * alternated in one process (so that a loaded machine slows them alike): the
 * 12 signer calls of a call captured by bench/signing-capture.ts, each on its
 * message as it was, minus parsing and serialising those messages alone. A
 * fresh signer per call (its MAC memo starts empty, as calls share no input),
 * one line cache for all (route hops repeat from call to call).
 *
 *   npx tsx bench/signing-flow.ts [capture = /tmp/ks-signing-call.json] [tree ...]   # trees default to this one
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const file = process.argv[2] ?? '/tmp/ks-signing-call.json';
const trees = process.argv.length > 3 ? process.argv.slice(3).map((t) => resolve(t)) : [resolve(import.meta.dirname, '..')];
const N = Number(process.env.N ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 21);
const { keys, call } = JSON.parse(readFileSync(file, 'utf8')) as {
  keys: Record<'via' | 'rr', { id: string; key: string; createdAt: number; expiresAt: number }>;
  call: Array<{ op: string; before: string; args: unknown[] }>;
};
const fail = (): never => {
  throw new Error('a signature failed: capture and tree disagree');
};
let sink = 0;

type Loop = ((withOps: boolean) => number) & { perOp: Record<string, number> };

async function tree(root: string): Promise<Loop> {
  const { HeaderSigner } = await import(`${root}/src/sbc/signing/sip-signatures.js`);
  const { openSigningKeys } = await import(`${root}/src/sbc/signing/keyring.js`);
  const { MemorySigningKeyStore } = await import(`${root}/src/store/signing-keys.js`);
  const { parseMessage, serialize } = await import(`${root}/src/sip/index.js`);
  try {
    const { RouteLineCache } = await import(`${root}/src/sbc/signing/route-lines.js`);
    const shared = new RouteLineCache();
    const lines = RouteLineCache.prototype.lines;
    RouteLineCache.prototype.lines = function (...a: unknown[]) {
      return lines.apply(shared, a);
    };
  } catch {
    // a tree from before the line cache
  }
  const store = new MemorySigningKeyStore();
  for (const p of ['via', 'rr'] as const) await store.add({ id: keys[p].id, purpose: p, key: Buffer.from(keys[p].key, 'hex'), createdAt: keys[p].createdAt, expiresAt: keys[p].expiresAt });
  const sk = await openSigningKeys({ store, now: () => keys.via.createdAt + 1000, rotateEveryMs: 100 * 3600_000 });
  const steps = call.map((o) => ({ op: o.op, buf: Buffer.from(o.before, 'latin1'), args: o.args }));
  const prep = (buf: Buffer) => {
    const r = parseMessage(buf);
    if (!r.ok) throw new Error('a captured message does not parse');
    const m = r.message;
    // what the SBC has read of each message before it signs or checks it
    m.callId(); m.cseq(); m.from(); m.to(); m.vias();
    return m;
  };
  const perOp: Record<string, number> = {};
  const loop = (withOps: boolean): number => {
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const signer = withOps ? new HeaderSigner({ via: sk.via, rr: sk.rr, onFailure: fail }) : undefined;
      for (const s of steps) {
        const m = prep(s.buf);
        if (signer) {
          const t0 = process.hrtime.bigint();
          const r = signer[s.op](m, ...s.args);
          perOp[s.op] = (perOp[s.op] ?? 0) + Number(process.hrtime.bigint() - t0);
          if (r && typeof r === 'object' && r.ok === false) fail();
        }
        sink += serialize(m).length;
      }
    }
    const c = process.cpuUsage(t);
    return (c.user + c.system) / N;
  };
  return Object.assign(loop, { perOp });
}

const loops: Loop[] = [];
for (const t of trees) loops.push(await tree(t));
const d: number[][] = trees.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let j = 0; j < loops.length; j++) {
    const bare = loops[j]!(false);
    d[j]!.push(loops[j]!(true) - bare);
  }
}
console.log(`signer CPU per call (${call.length} signer calls), median of ${ROUNDS} rounds of ${N} calls, quartiles:`);
for (let j = 0; j < trees.length; j++) {
  const x = d[j]!.sort((a, b) => a - b);
  console.log(`  ${trees[j]}: ${x[x.length >> 1]!.toFixed(1)} us  (${x[x.length >> 2]!.toFixed(1)}–${x[(3 * x.length) >> 2]!.toFixed(1)})`);
}
console.log('per signer call kind, wall µs per call (all rounds):');
for (const op of Object.keys(loops[0]!.perOp)) console.log(`  ${op.padEnd(22)} ${loops.map((l) => (l.perOp[op]! / 1000 / N / ROUNDS).toFixed(1).padStart(6)).join('  ')}`);
if (sink < 0) console.log(sink);
