/**
 * MGCP registrations per second through gateway → SBC → call agent → an
 * in-memory AuC, all in this process over loopback UDP. Each gateway has its
 * own socket; `CONCURRENCY` of them register at once. Median of 5 runs.
 *
 *   npx tsx bench/register-mgcp.ts [registrations-per-run] [concurrency]
 */
import { randomBytes } from 'node:crypto';
import type { AucService, VectorResult } from '../src/contracts/auc.js';
import { makeVector } from '../src/crypto/ks1.js';
import { parseMgcp } from '../src/mgcp/parse.js';
import { encodeMgcp } from '../src/mgcp/encode.js';
import { startMgcpRelay } from '../src/sbc/mgcp-relay.js';
import { startMgcpSoftswitch } from '../src/softswitch/mgcp-agent.js';
import { MgcpGateway } from '../src/terminal/mgcp-gateway.js';

const N = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const RUNS = 5;
const IDSP = 'sbc1.bench.example';
const KSP = randomBytes(32);
const keys = new Map<string, Buffer>();

const auc: AucService = {
  async vector({ idc, idsp }): Promise<VectorResult> {
    const kc = keys.get(idc);
    if (!kc) return { ok: false, reason: 'unknown-terminal' };
    const v = makeVector({ kc, ksp: KSP, idc, idsp, rand: randomBytes(16), sessionKey: randomBytes(32) });
    return { ok: true, vector: { ...v, expiresAt: Date.now() + 30_000 } };
  },
  async digest() {
    return { ok: false, reason: 'no-sip-password' };
  },
  async registered() {},
  async deregistered() {},
  async failed() {
    return { locked: false };
  },
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  // Codec alone.
  const sample = Buffer.from(
    'NTFY 1201 *@gw1.lab.example MGCP 1.0\nX: 0123abcd\nO: ks/auth\nX-KS-IDC: gw1@lab.example\nX-KS-IDSP: sbc1.lab.example\n' +
      'X-KS-RAND: CqAKXMalXq3lc0F343WlQA\nX-KS-RESPONSE: 17vbhlrhQa07OoHOyAxAgQ\nX-KS-N1: TzFG139asPBg8x_aeNcJuA\n' +
      'X-KS-N2: VjE-BlUTr7d9sADoTfT4Iw\nX-KS-TS: 1764097200\nX-KS-MECHS: app-hmac;q=0.5\nK: 1200\n',
  );
  const M = 200_000;
  let t = performance.now();
  for (let i = 0; i < M; i++) parseMgcp(sample);
  const parseRate = M / ((performance.now() - t) / 1000);
  const parsed = parseMgcp(sample);
  if (!parsed.ok) throw new Error('sample did not parse');
  t = performance.now();
  for (let i = 0; i < M; i++) encodeMgcp(parsed.messages);
  const encodeRate = M / ((performance.now() - t) / 1000);
  console.log(`codec: parse ${Math.round(parseRate).toLocaleString('en')} msg/s, encode ${Math.round(encodeRate).toLocaleString('en')} msg/s (${sample.length}-byte NTFY)`);

  const timers = { provisionalAfterMs: 2000 };
  const ss = await startMgcpSoftswitch({ listen: { host: '127.0.0.1', port: 0 }, auc, transport: timers });
  const sbc = await startMgcpRelay({
    listen: { host: '127.0.0.1', port: 0 },
    core: { host: '127.0.0.1', port: 0 },
    softswitch: { host: '127.0.0.1', port: ss.port },
    sbc: { idsp: IDSP, ksp: KSP },
    transport: timers,
  });
  const gateways: MgcpGateway[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const idc = `gw${i}@bench.example`;
    const kc = randomBytes(32);
    keys.set(idc, kc);
    gateways.push(await MgcpGateway.open({ idc, kc, sbc: { host: '127.0.0.1', port: sbc.port }, listen: { host: '127.0.0.1', port: 0 }, transport: timers }));
  }

  const rates: number[] = [];
  const latencies: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let next = 0;
    let failed = 0;
    const start = performance.now();
    await Promise.all(
      gateways.map(async (gw) => {
        while (next < N) {
          next++;
          const r = await gw.register();
          if (r.ok) latencies.push(r.ms);
          else failed++;
        }
      }),
    );
    const secs = (performance.now() - start) / 1000;
    rates.push(N / secs);
    console.log(`run ${run + 1}: ${N} registrations in ${secs.toFixed(2)} s = ${Math.round(N / secs).toLocaleString('en')}/s (${failed} failed)`);
  }
  const retrans = sbc.stats().access.retransmissions + sbc.stats().core.retransmissions;
  console.log(
    `median: ${Math.round(median(rates)).toLocaleString('en')} registrations/s, concurrency ${CONCURRENCY}; ` +
      `latency median ${median(latencies).toFixed(2)} ms, p99 ${[...latencies].sort((a, b) => a - b)[Math.floor(latencies.length * 0.99)]!.toFixed(2)} ms; ` +
      `SBC retransmissions ${retrans}`,
  );
  await Promise.all(gateways.map((g) => g.close()));
  await sbc.close();
  await ss.close();
}

await main();
