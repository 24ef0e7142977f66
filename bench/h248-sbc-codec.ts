/**
 * The SBC's H.248 codec work for one KS1 registration, without sockets or crypto: every message the SBC
 * receives along a registration and the protected Notify after it (s1, s2's reply, s5, s6's reply, s7,
 * s8's reply, s9, s10's reply, Notify and its reply) parsed, classified as the relay does (ksStep: twice
 * for a gateway's request), decoded, and what it sends in their place written (s2, s1's reply, s6, …).
 * CPU µs per registration, median of 7 rounds (the crypto, the sockets and the relay's tables are elsewhere).
 *
 *   npx tsx bench/h248-sbc-codec.ts [registrations-per-round]
 */
import { randomBytes } from 'node:crypto';
import {
  decodeS1, decodeS5, decodeS7, decodeS9, encodeS1, encodeS2, encodeS5, encodeS6, encodeS7, encodeS8, encodeS9, encodeS10,
  echoReply, ksStep, requestIdOf, rootCommand,
} from '../src/adapters/h248/ks-mapping.js';
import { parseMechanisms } from '../src/flow/mechanisms.js';
import { parseMessage, parseMessages, serializeMessage, writeTransaction } from '../src/h248/index.js';
import type { Action, ParsedMessage, TransactionReply, TransactionRequest } from '../src/h248/index.js';

const n = Number(process.argv[2] ?? 20_000);
const mechs = parseMechanisms('app-hmac;q=0.5');
if (!mechs.ok) throw new Error('mechanisms');
const b16 = () => randomBytes(16);
const idc = 'gw00042@bench.example';
const idsp = 'sbc1.bench.example';
const GW = '[127.0.0.1]:40123';
const text = (mid: string, t: { type: 'request'; id: number; actions: Action[] } | { type: 'reply'; id: number; actions: Action[] }) =>
  Buffer.from(serializeMessage({ version: 1, mid, transactions: [t] }));
const req = (mid: string, id: number, actions: Action[]) => text(mid, { type: 'request', id, actions });
const rep = (mid: string, id: number, actions: Action[]) => text(mid, { type: 'reply', id, actions });

const s1 = encodeS1({ idc, n1: b16(), ts: 1_796_000_000 });
const s5 = encodeS5({ idc, idsp, rand: b16() }, 7);
const s6 = encodeS6({ idc, idsp, rand: b16(), n1: b16(), n2: b16(), ts: 1_796_000_000, offered: mechs.list }, 7);
const s7 = encodeS7({ idc, n1: b16(), n2: b16(), ts: 1_796_000_000, authenticator: b16(), mechs: mechs.list }, 7);
const s9 = encodeS9({ idc, idsp, rand: b16(), ekc: randomBytes(60), eksp: randomBytes(60) });
const s10 = encodeS10({ idc, idsp, n1: b16(), n2: b16(), ts: 1_796_000_000, ekc: randomBytes(60), mech: 'app-hmac', mechs: 'app-hmac;q=0.5', mac: b16() });
const notify: Action[] = [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [{ name: 'ObservedEvents', op: '=', value: '1', children: [{ name: 'g/sc' }] }] }] }];
// what arrives: from the gateway (access leg, one message a datagram) and from the softswitch (core leg, named)
const IN = {
  s1: req(GW, 101, s1), s2reply: rep(GW, 201, echoReply(encodeS2({ idc, idsp }))), s5: req(GW, 301, s5), s6reply: rep(GW, 401, echoReply(s6)),
  s7: req(GW, 102, s7), s8reply: rep(GW, 202, echoReply(s7)), s9: req(GW, 302, s9), s10reply: rep(GW, 402, echoReply(s10)),
  notify: req(GW, 103, notify), notifyReply: rep(GW, 203, echoReply(notify)),
};

const one = (b: Buffer): ParsedMessage => {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(r.error.reason);
  return r.message;
};
const named = (b: Buffer): ParsedMessage => {
  const r = parseMessages(b, 16);
  if (!r.ok) throw new Error(r.error.reason);
  return r.messages[0]!;
};
const request = (m: ParsedMessage) => m.transactions[0] as TransactionRequest;
const reply = (m: ParsedMessage) => m.transactions[0] as TransactionReply;
let sink = 0;
const out = (actions: Action[], type: 'request' | 'reply' = 'request') => (sink += writeTransaction({ type, id: 9, actions } as never).length);

function registration(): void {
  // a gateway's request is classified by inbound (isRegistration) and by fromGateway
  let cmd = rootCommand(request(one(IN.s1)))!;
  ksStep(cmd); ksStep(cmd);
  const d1 = decodeS1(cmd);
  if (!d1.ok) throw new Error('s1');
  out(encodeS2({ idc: d1.value.idc, idsp }));
  out(reply(named(IN.s2reply)).actions, 'reply');
  cmd = rootCommand(request(named(IN.s5)))!;
  ksStep(cmd);
  if (!decodeS5(cmd).ok) throw new Error('s5');
  requestIdOf(cmd);
  out(s6);
  out(reply(one(IN.s6reply)).actions, 'reply');
  cmd = rootCommand(request(one(IN.s7)))!;
  ksStep(cmd); ksStep(cmd);
  if (!decodeS7(cmd).ok) throw new Error('s7');
  out(encodeS8({ idc, idsp, rand: b16(), authenticator: b16(), mech: 'app-hmac' }, 7));
  out(reply(named(IN.s8reply)).actions, 'reply');
  cmd = rootCommand(request(named(IN.s9)))!;
  ksStep(cmd);
  if (!decodeS9(cmd).ok) throw new Error('s9');
  out(s10);
  out(reply(one(IN.s10reply)).actions, 'reply');
  const t = request(one(IN.notify));
  cmd = rootCommand(t)!;
  ksStep(cmd); ksStep(cmd);
  out(t.actions);
  out(reply(named(IN.notifyReply)).actions, 'reply');
}

for (let i = 0; i < n; i++) registration(); // warm-up
const us: number[] = [];
for (let r = 0; r < 7; r++) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) registration();
  const c = process.cpuUsage(c0);
  us.push((c.user + c.system) / n);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`SBC H.248 codec work per KS1 registration (10 messages in, 10 written): ${median(us).toFixed(1)} µs CPU (median of 7 × ${n}; rounds ${us.map((x) => x.toFixed(1)).join(', ')})${sink ? '' : ' '}`);
