/**
 * What the SBC's H.248 relay spends writing again what it relays unchanged in content, per KS1 registration: the
 * replies to s1, s5, s7 and s9 and the protected Notify with its reply (six writeTransaction calls). The figure
 * behind docs/h248.md, "What the SBC relays: normalised, never verbatim". CPU µs per registration, 5 rounds.
 *
 *   npx tsx bench/h248-relay-writes.ts
 */
import { randomBytes } from 'node:crypto';
import { encodeS2, encodeS6, encodeS10, echoReply } from '../src/adapters/h248/ks-mapping.js';
import { parseMechanisms } from '../src/flow/mechanisms.js';
import { writeTransaction, type Action } from '../src/h248/index.js';
const mechs = parseMechanisms('app-hmac;q=0.5'); if (!mechs.ok) throw 0;
const b16 = () => randomBytes(16);
const idc = 'gw00042@bench.example', idsp = 'sbc1.bench.example';
const s6 = encodeS6({ idc, idsp, rand: b16(), n1: b16(), n2: b16(), ts: 1_796_000_000, offered: mechs.list }, 7);
const s10 = encodeS10({ idc, idsp, n1: b16(), n2: b16(), ts: 1_796_000_000, ekc: randomBytes(60), mech: 'app-hmac', mechs: 'app-hmac;q=0.5', mac: b16() });
const notify: Action[] = [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [{ name: 'ObservedEvents', op: '=', value: '1', children: [{ name: 'g/sc' }] }] }] }];
const rep = [echoReply(encodeS2({ idc, idsp })), echoReply(s6), echoReply(notify), echoReply(s10), echoReply(notify)];
let sink = 0; const n = 200000;
const round = () => { for (let i = 0; i < n; i++) { for (const a of rep) sink += writeTransaction({ type: 'reply', id: i, actions: a }).length; sink += writeTransaction({ type: 'request', id: i, actions: notify }).length; } };
round();
const us: number[] = [];
for (let r = 0; r < 5; r++) { const c0 = process.cpuUsage(); round(); const c = process.cpuUsage(c0); us.push((c.user + c.system) / n); }
console.log(`six relayed writes per registration: ${us.map((x) => x.toFixed(2)).join(' / ')} µs CPU (5 rounds of ${n})${sink > 0 ? '' : ' '}`);
