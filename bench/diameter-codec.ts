/**
 * Encode + decode of a Cx MAA (the s4 answer) per second, median of 5 runs;
 * then, for scale, whole MAR/MAA round trips over loopback TCP (client and
 * AuC server in this one process).
 * Run: npx tsx bench/diameter-codec.ts
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { avp, decodeMessage, encodeMessage, FLAG_PROXIABLE, type DiameterMessage } from '../src/diameter/index.js';
import { startDiameterAucServer } from '../src/adapters/diameter/auc-server.js';
import type { AucService } from '../src/contracts/auc.js';
import { DiameterAucClient } from '../src/adapters/diameter/auc-client.js';

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

const vector = { rand: randomBytes(16), authenticator: randomBytes(16), ekc: randomBytes(60), eksp: randomBytes(60) };
const service: AucService = {
  vector: async (req) => ({ ok: true, vector: { ...req, ...vector, expiresAt: Date.now() + 30_000 } }),
  digest: async () => ({ ok: false, reason: 'no-sip-password' }),
  registered: async () => {},
  deregistered: async () => {},
  failed: async () => ({ locked: false }),
};
const server = await startDiameterAucServer({ port: 0, originHost: 'auc1.lab.example', originRealm: 'lab.example', service, peers: [{ originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] }] });
const client = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port: server.port }], originHost: 'ss1.lab.example', originRealm: 'lab.example', destinationRealm: 'lab.example' });
await client.ready();
for (const inFlight of [1, 50]) {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 2000) {
    await Promise.all(Array.from({ length: inFlight }, () => client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })));
    n += inFlight;
  }
  console.log(`MAR/MAA round trips over loopback TCP, ${inFlight} in flight: ${Math.round((n * 1000) / (performance.now() - t0)).toLocaleString('en')}/s`);
}
await client.close();
await server.close();
