/**
 * npx tsx --expose-gc bench/contact-map.ts [--contacts 100000 --per-idc 1 --ops 2000 --rounds 5]
 *
 * The SBC's contact map (src/sbc/sip-contacts.ts) alone, in this process:
 * --contacts Contacts bound (--per-idc of them per IDc, each IDc with a flow),
 * then --ops times one IDc de-registers (`unbindAll`, timed alone, in batches
 * of 100 IDcs) and registers again (`seen` + `bind`, not timed), so the map stays full — what a
 * registered terminal de-registering in a loop makes the SBC do. Prints µs per
 * unbindAll per round and the median, and the heap the map holds per IDc
 * (heapUsed after a forced GC, with and without the map: needs --expose-gc).
 * Figures only; on a shared machine the times are noisy.
 */
import { parseArgs } from 'node:util';
import { ContactMap } from '../src/sbc/sip-contacts.js';
import { parseUri, type MessageSource, type SipTransport } from '../src/sip/index.js';

const { values: args } = parseArgs({
  options: {
    contacts: { type: 'string', default: '100000' },
    'per-idc': { type: 'string', default: '1' },
    ops: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    (await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''),
  );
  process.exit(0);
}
const contacts = Number(args.contacts);
const perIdc = Number(args['per-idc']);
const ops = Number(args.ops);
const rounds = Number(args.rounds);
const idcCount = Math.ceil(contacts / perIdc);
const gc = (globalThis as { gc?: () => void }).gc;

const transport = { protocol: 'udp' } as unknown as SipTransport;
const now = Date.now();
const until = now + 3_600_000;
// identities and URIs built outside the map, as the SBC parses them from each REGISTER
const idcs = Array.from({ length: idcCount }, (_, i) => `t${i}@lab.example`);
const uris = Array.from({ length: idcCount }, (_, i) => Array.from({ length: perIdc }, (_, j) => parseUri(`sip:t${i}x${j}@10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${5060 + j}`)));
const sources: MessageSource[] = Array.from({ length: idcCount }, (_, i) => ({ transport, protocol: 'udp', address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 5060 }));

const heap = () => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};
// as in the SBC: the guard records the flow of each message that passed its mechanism (the
// REGISTER too) before the registration binds the Contacts
const register = (map: ContactMap, i: number) => {
  map.seen(idcs[i]!, sources[i]!);
  for (const u of uris[i]!) map.bind(idcs[i]!, u, until);
};

const before = heap();
const map = new ContactMap(() => now);
for (let i = 0; i < idcCount; i++) register(map, i);
const after = heap();
console.log(`${map.size.toLocaleString('en-US')} Contacts, ${idcCount.toLocaleString('en-US')} IDcs (${perIdc} each)`);
if (gc) console.log(`heap held by the map: ${((after - before) / idcCount).toFixed(0)} bytes per IDc (after a forced GC)`);
else console.log('heap per IDc: run with --expose-gc');

const perRound: number[] = [];
let k = 0;
for (let r = 0; r < rounds; r++) {
  let ns = 0n;
  // in batches of distinct IDcs (spread over the map, not only its head): the batch of
  // unbindAll is timed, which allocates nothing, so no collection falls inside the timing
  // by chance; the registrations again are not
  const batch: number[] = [];
  for (let n = 0; n < ops; n += batch.length) {
    batch.length = 0;
    for (let b = 0; b < Math.min(100, ops - n); b++) batch.push((k = (k + 7919) % idcCount));
    const t0 = process.hrtime.bigint();
    for (const i of batch) map.unbindAll(idcs[i]!);
    ns += process.hrtime.bigint() - t0;
    for (const i of batch) register(map, i);
  }
  perRound.push(Number(ns) / 1000 / ops);
  console.log(`round ${r + 1}: ${(Number(ns) / 1000 / ops).toFixed(3)} µs per unbindAll`);
}
if (map.size !== contacts && perIdc * idcCount === contacts) throw new Error(`map lost Contacts: ${map.size}`);
// what the clock reading around each call costs, for scale
let idle = 0n;
for (let n = 0; n < ops; n++) {
  const t0 = process.hrtime.bigint();
  idle += process.hrtime.bigint() - t0;
}
console.log(`timer alone: ${(Number(idle) / 1000 / ops).toFixed(3)} µs per reading pair`);
const sorted = [...perRound].sort((a, b) => a - b);
console.log(`median: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} µs per unbindAll (${ops} per round, ${rounds} rounds)`);
