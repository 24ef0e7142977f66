/**
 * Calls per second through the softswitch alone: INVITE → 180 → 200 → ACK →
 * BYE → 200 between in-process user agents over loopback UDP, with the real
 * location store (SQLite in a temp dir). `CONCURRENCY` caller/callee pairs
 * call at once. Median of 5 runs, with the location cache on (default TTL)
 * and off (every INVITE reads the store), to show what the cache buys.
 *
 *   npx tsx bench/calls-softswitch.ts [calls-per-run] [concurrency]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AucService } from '../src/contracts/auc.js';
import {
  createAckFor2xx, createRequest, createSipStack, createUdpTransport, randomToken,
  type SipRequest, type SipResponse, type SipStack,
} from '../src/sip/index.js';
import { startSoftswitch } from '../src/softswitch/run.js';
import { openStore, type Store } from '../src/store/index.js';

const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const RUNS = 5;
const DOMAIN = 'bench.example';
const SDP = Buffer.from('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n');

const noAuc: AucService = {
  async vector() {
    return { ok: false, reason: 'unknown-terminal' };
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

interface Ua {
  stack: SipStack;
  contact: string;
  aor: string;
}

async function ua(aor: string, answer: boolean): Promise<Ua> {
  const t = await createUdpTransport({ host: '127.0.0.1' });
  const contact = `sip:${aor.split('@')[0]}@127.0.0.1:${t.port}`;
  const stack = createSipStack({
    transports: [t],
    onRequest: (req, ctx) => {
      if (!answer || req.method === 'ACK') return;
      const rr: Array<[string, string]> = req.getAll('Record-Route').map((v) => ['Record-Route', v]);
      if (req.method === 'INVITE') {
        const toTag = randomToken();
        ctx.respond(180, undefined, { toTag, headers: [...rr, ['Contact', `<${contact}>`]] });
        ctx.respond(200, undefined, { toTag, headers: [...rr, ['Contact', `<${contact}>`], ['Content-Type', 'application/sdp']], body: SDP });
      } else ctx.respond(200, undefined, { toTag: req.to().params.tag ?? randomToken() });
    },
  });
  return { stack, contact, aor };
}

async function bind(store: Store, u: Ua): Promise<void> {
  const now = store.now();
  await store.bindings.update(u.aor, () => ({
    commit: [{ op: 'put', binding: { aor: u.aor, contact: u.contact, q: 1, expiresAt: now + 3600_000, callId: randomToken(), cseq: 1, source: 'udp:127.0.0.1:1', idsp: '', mechanism: '', instance: '' } }],
    result: true,
  }));
}

async function call(from: Ua, to: Ua, ss: { address: string; port: number }): Promise<void> {
  const inv = createRequest('INVITE', `sip:${to.aor}`, [
    ['From', `<sip:${from.aor}>;tag=${randomToken()}`], ['To', `<sip:${to.aor}>`], ['Call-ID', randomToken(12)], ['CSeq', '1 INVITE'],
    ['Max-Forwards', '70'], ['Contact', `<${from.contact}>`], ['Content-Type', 'application/sdp'],
  ], SDP);
  const ok: SipResponse = await from.stack.send(inv, { destination: ss });
  if (ok.status !== 200) throw new Error(`INVITE answered ${ok.status}`);
  await from.stack.sendStateless(createAckFor2xx(inv, ok));
  const bye: SipRequest = createRequest('BYE', createAckFor2xx(inv, ok).uri, [
    ['From', inv.get('From')!], ['To', ok.get('To')!], ['Call-ID', inv.callId()], ['CSeq', '2 BYE'], ['Max-Forwards', '70'],
    ...ok.list('record-route').reverse().map((r): [string, string] => ['Route', r]),
  ]);
  const r = await from.stack.send(bye);
  if (r.status !== 200) throw new Error(`BYE answered ${r.status}`);
}

async function measure(ttlMs: number): Promise<{ median: number; runs: number[]; hitRatio: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-bench-calls-'));
  const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex') });
  const ssh = await startSoftswitch({
    sip: { host: '127.0.0.1', udpPort: 0 },
    trustedSbcs: [],
    realm: DOMAIN,
    auc: noAuc,
    store,
    calls: { locationCacheTtlMs: ttlMs, authenticate: false }, // routing cost alone; call authentication is measured through the SBC (bench/calls.ts)
  });
  const ss = { address: '127.0.0.1', port: ssh.ports.udp! };
  const callers: Ua[] = [];
  const callees: Ua[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    callers.push(await ua(`caller${i}@${DOMAIN}`, false));
    const c = await ua(`callee${i}@${DOMAIN}`, true);
    await bind(store, c);
    callees.push(c);
  }
  const runs: number[] = [];
  try {
    for (let run = 0; run < RUNS + 1; run++) {
      let next = 0;
      const per = run === 0 ? Math.min(N, 200) : N; // the first run warms up and is not counted
      const t0 = process.hrtime.bigint();
      await Promise.all(callers.map(async (c, i) => {
        while (next < per) {
          next++;
          await call(c, callees[i]!, ss);
        }
      }));
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (run > 0) runs.push(per / s);
    }
  } finally {
    const st = ssh.stats().location;
    for (const u of [...callers, ...callees]) await u.stack.close();
    await ssh.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
    runs.sort((a, b) => a - b);
    return { median: runs[Math.floor(runs.length / 2)] ?? 0, runs, hitRatio: st.hits / Math.max(1, st.hits + st.misses) };
  }
}

const cached = await measure(2000);
const uncached = await measure(0);
const fmt = (x: number) => x.toFixed(0);
console.log(`softswitch calls/s (INVITE→180→200→ACK→BYE→200, ${CONCURRENCY} concurrent pairs, ${N} calls per run, median of ${RUNS}):`);
console.log(`  location cache on  (TTL 2 s): ${fmt(cached.median)} calls/s  [runs ${cached.runs.map(fmt).join(', ')}], cache hit ratio ${(cached.hitRatio * 100).toFixed(1)}%`);
console.log(`  location cache off (store read per INVITE): ${fmt(uncached.median)} calls/s  [runs ${uncached.runs.map(fmt).join(', ')}]`);
console.log(`  ratio on/off: ${(cached.median / Math.max(1, uncached.median)).toFixed(2)}`);
