/**
 * Encode + decode of a Cx MAA (the s4 answer) per second, median of 5 runs.
 * Run: npx tsx bench/diameter-codec.ts
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { avp, decodeMessage, encodeMessage, FLAG_PROXIABLE, type DiameterMessage } from '../src/diameter/index.js';

const maa: DiameterMessage = {
  flags: FLAG_PROXIABLE,
  commandCode: 303,
  applicationId: 16777216,
  hopByHop: 0x12345678,
  endToEnd: 0x9abcdef0,
  avps: [
    avp('Session-Id', 'ss1.lab.example;1764097200;42'),
    avp('Vendor-Specific-Application-Id', [avp('Vendor-Id', 10415), avp('Auth-Application-Id', 16777216)]),
    avp('Result-Code', 2001),
    avp('Auth-Session-State', 1),
    avp('Origin-Host', 'auc1.lab.example'),
    avp('Origin-Realm', 'lab.example'),
    avp('User-Name', 'alice@lab.example'),
    avp('Public-Identity', 'sip:alice@lab.example'),
    avp('SIP-Number-Auth-Items', 1),
    avp('SIP-Auth-Data-Item', [
      avp('SIP-Item-Number', 1),
      avp('SIP-Authentication-Scheme', 'KS1'),
      avp('SIP-Authenticate', randomBytes(16)),
      avp('SIP-Authorization', randomBytes(16)),
      avp('KS-E-Kc', randomBytes(60)),
      avp('KS-E-Ksp', randomBytes(60)),
      avp('KS-Rand-Expires', BigInt(Date.now() + 30_000)),
    ]),
    avp('KS-Proxy-Identity', 'sbc1.lab.example'),
  ],
};

function run(ms: number): number {
  let n = 0;
  const end = performance.now() + ms;
  let sink = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) {
      const bytes = encodeMessage(maa);
      sink += decodeMessage(bytes).avps.length;
    }
    n += 200;
  }
  if (sink === 0) throw new Error('unreachable');
  return (n * 1000) / ms;
}

run(300); // warm-up
const rates = Array.from({ length: 5 }, () => run(1000)).sort((a, b) => a - b);
const size = encodeMessage(maa).length;
console.log(`MAA (${size} bytes) encode+decode: median ${Math.round(rates[2]!).toLocaleString('en')}/s  (runs: ${rates.map((r) => Math.round(r)).join(', ')})`);
