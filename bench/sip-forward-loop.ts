/**
 * npx tsx bench/sip-forward-loop.ts [tree]
 *
 * CPU time (process.cpuUsage, which another process's load does not inflate) per parse of
 * the messages a Digest registration brings the SBC — sipp's REGISTER with credentials and
 * the core's 200 with two Vias — and per forward of the REGISTER as the SBC does it (parse,
 * read To/From, clone, set P-KS-IDSP and Max-Forwards, push a Via, serialise). Median of 7
 * loops of 40,000. `tree`: another checkout's root (its src/ is imported), to compare two
 * trees in alternation on a shared machine (docs/performance.md, "SBC (session 5)").
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Sip from '../src/sip/index.js';
import { SIPP_REGISTER_200, sippRegister } from './sipp-register.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const { parseMessage, serialize } = (await import(pathToFileURL(join(tree, 'src', 'sip', 'index.ts')).href)) as typeof Sip;
const reg = sippRegister();
const ok = SIPP_REGISTER_200;
function cpuPerOp(fn: () => void): number {
  for (let i = 0; i < 5000; i++) fn();
  const c0 = process.cpuUsage();
  const n = 40_000;
  for (let i = 0; i < n; i++) fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const parsed = (b: Buffer): Sip.SipRequest | Sip.SipResponse => {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(r.error.reason);
  return r.message;
};
const cases: Record<string, () => void> = {
  'parse REGISTER': () => parsed(reg),
  'parse 200 (2 Via)': () => parsed(ok),
  'parse+serialize 200': () => {
    const m = parsed(ok);
    m.shift('Via');
    serialize(m);
  },
  'parse+clone+fwd REGISTER': () => {
    const m = parsed(reg);
    m.to();
    m.from();
    const f = m.clone();
    f.set('P-KS-IDSP', 'sbc1.lab.example');
    f.set('Max-Forwards', String(f.maxForwards()! - 1));
    f.prepend('Via', 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport');
    f.maxForwards();
    f.cseq();
    f.topVia();
    serialize(f);
  },
};
console.log(`${tree}: CPU µs per operation, median of 7 loops of 40,000`);
for (const [k, f] of Object.entries(cases)) {
  const xs = [1, 2, 3, 4, 5, 6, 7].map(() => cpuPerOp(f));
  console.log(k.padEnd(26), median(xs).toFixed(2));
}
