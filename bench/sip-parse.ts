/**
 * Parse + serialize throughput for a ~650-byte REGISTER: keyswitch's codec vs the `sip`
 * npm package's parse + stringify on the same bytes. Median of 5 runs.
 * Run: npx tsx bench/sip-parse.ts
 */
import { createRequire } from 'node:module';
import { parseMessage, serialize } from '../src/sip/index.js';

const require = createRequire(import.meta.url);
const sip = require('sip') as { parse(s: string): unknown; stringify(m: unknown): string };

const text = [
  'REGISTER sip:lab.example SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK5d8a7f3c2b1e4a6f9d0c;rport',
  'Max-Forwards: 70',
  'To: "Alice" <sip:alice@lab.example>',
  'From: "Alice" <sip:alice@lab.example>;tag=a73kszlfl8d7f6',
  'Call-ID: 1j9FpLxk3uxtm8tn7d6f5e4d3c2b1a0@192.0.2.10',
  'CSeq: 2 REGISTER',
  'Contact: <sip:alice@192.0.2.10:5062;transport=udp>;expires=3600',
  'Authorization: KS1 username="alice@lab.example", realm="sbc1.lab.example", nonce="Wm9vb29vb29vb29vb29vbw", response="AAECAwQFBgcICQoLDA0ODw", n1="bmV3bjFuZXduMW5ld24xbg", n2="bjJ2YWx1ZXZhbHVldmFsdQ", ts="1764097202"',
  'Security-Client: tls-psk;q=0.5, app-hmac;q=0.3',
  'Supported: path, outbound, gruu',
  'Expires: 3600',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');
const bytes = Buffer.from(text);

function rate(fn: () => void, ms = 600): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    now = process.hrtime.bigint();
  }
  return (n / Number(now - start)) * 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const ours = (): void => {
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error(r.error.reason);
  serialize(r.message);
};
const oursForward = (): void => {
  // what a proxy does per message: parse, touch the routing headers, rewrite two lines, serialize
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error(r.error.reason);
  const m = r.message;
  m.prepend('Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKproxy1');
  m.set('Max-Forwards', String((m.maxForwards() ?? 70) - 1));
  serialize(m);
};
const theirs = (): void => {
  sip.stringify(sip.parse(bytes.toString()));
};

const runs: Record<string, number[]> = { keyswitch: [], 'keyswitch (proxy edit)': [], 'sip 0.0.6': [] };
for (let k = 0; k < 5; k++) {
  runs.keyswitch!.push(rate(ours));
  runs['keyswitch (proxy edit)']!.push(rate(oursForward));
  runs['sip 0.0.6']!.push(rate(theirs));
}
console.log(`message: ${bytes.length}-byte REGISTER, parse + serialize, median of 5 runs`);
for (const [name, xs] of Object.entries(runs)) console.log(`${name.padEnd(24)} ${Math.round(median(xs)).toLocaleString('en-US').padStart(10)} msg/s`);
console.log(`ratio keyswitch / sip: ${(median(runs.keyswitch!) / median(runs['sip 0.0.6']!)).toFixed(2)}x`);
