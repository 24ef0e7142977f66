/**
 * npx tsx bench/ids-tables.ts [tree]
 *
 * The SIP side of the intrusion detection (src/adapters/sip/ids.ts) under a flood of credentialed
 * REGISTERs from ever-new source ports that nobody answers: its tables fill to their bound (50,000),
 * and every further flow makes room. Prints the CPU time (process.cpuUsage) per inbound request once
 * the tables are full, median of 5 rounds of 20,000, with an engine that passes everything (the rules'
 * own cost left out). `tree`: another checkout's root, to compare two trees in alternation.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as IdsModule from '../src/adapters/sip/ids.js';
import type * as SipModule from '../src/sip/index.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const { SipIds } = (await import(pathToFileURL(join(tree, 'src', 'adapters', 'sip', 'ids.ts')).href)) as typeof IdsModule;
const { parseMessage } = (await import(pathToFileURL(join(tree, 'src', 'sip', 'index.ts')).href)) as typeof SipModule;

const sink = { inspect: () => ({ kind: 'pass' as const }), outcome: () => undefined, isBlocked: () => false, goodFlow: () => false };
const ids = new SipIds(sink as never);
const auth = 'Digest username="u", realm="lab.example", nonce="n", uri="sip:lab.example", response="00112233445566778899aabbccddeeff"';
const msg = (i: number) =>
  parseMessage(
    Buffer.from(
      `REGISTER sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${i}\r\nMax-Forwards: 70\r\nFrom: <sip:u${i}@lab.example>;tag=f\r\n` +
        `To: <sip:u${i}@lab.example>\r\nCall-ID: c${i}\r\nCSeq: 1 REGISTER\r\nAuthorization: ${auth}\r\nContent-Length: 0\r\n\r\n`,
    ),
  );
const src = (i: number) => ({ protocol: 'udp', address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) }) as never;

let n = 0;
const round = (count: number): number => {
  const msgs = Array.from({ length: count }, (_, j) => [msg(n + j), src(n + j)] as const);
  const t0 = process.cpuUsage();
  for (const [m, s] of msgs) ids.inbound(m, s);
  const d = process.cpuUsage(t0);
  n += count;
  return (d.user + d.system) / count;
};
round(60_000); // fills the tables past their bound
const runs = Array.from({ length: 5 }, () => round(20_000)).sort((a, b) => a - b);
console.log(`${tree}: ${runs[2]!.toFixed(2)} µs per credentialed request with the tables full (rounds: ${runs.map((x) => x.toFixed(1)).join(' ')})`);
