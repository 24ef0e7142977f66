/**
 * Calls per second through SBC and softswitch (INVITE → 180 → 200 → ACK →
 * BYE → 200, every message app-hmac tagged between terminals and SBC), with
 * the SBC's header signing on and off in the same run, and the ratio.
 * In one process on loopback UDP: terminals, SBC, the real softswitch call
 * router and AuC over the embedded store. Median of 5 runs per mode,
 * alternating so that drift hits both alike.
 *
 *   npx tsx bench/calls.ts [calls per run = 400] [concurrency = 16]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auc } from '../src/auc/auc.js';
import { openStore } from '../src/store/index.js';
import { startSoftswitch } from '../src/softswitch/run.js';
import { startSbc, type RunningSbc } from '../src/sbc/run.js';
import { SipTerminal } from '../src/terminal/sip-terminal.js';
import { answerCalls, callerRequests, dial, register, type ByeWaiters } from '../src/terminal/call.js';

const CALLS = Number(process.argv[2] ?? 400);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const RUNS = 5;
const IDSP = 'sbc-bench.lab.example';

const dir = mkdtempSync(join(tmpdir(), 'ks-bench-calls-'));
const store = await openStore({ dataDir: dir, masterKeyHex: randomBytes(32).toString('hex') });
const ksp = randomBytes(32);
await store.proxies.create(IDSP, ksp);
const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 100, windowSeconds: 60, baseSeconds: 1, maxSeconds: 2 } });
// the softswitch believes an SBC's P-KS-* only under the core-link key (docs/sip-core-link.md)
const coreLinkKey = randomBytes(32);
const ss = await startSoftswitch({ sip: { host: '127.0.0.1', udpPort: 0, tcpPort: 0 }, trustedSbcs: ['127.0.0.1/32'], coreLinkKey, realm: 'lab.example', auc, store });

async function sbcFor(signing: boolean): Promise<RunningSbc> {
  return startSbc({
    idsp: IDSP, ksp, store,
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
    softswitch: { host: '127.0.0.1', port: ss.ports.udp! },
    coreLinkKey,
    offered: [{ name: 'app-hmac', q: 0.5 }],
    tls: { dataDir: dir },
    signing: { enabled: signing, guard: { threshold: 1_000_000 } },
  });
}

let n = 0;
async function terminal(): Promise<{ idc: string; kc: Buffer }> {
  const idc = `bench${n++}@lab.example`;
  const kc = randomBytes(32);
  await store.terminals.create(idc, kc, 'pw');
  return { idc, kc };
}

/** One measured run: a fresh SBC, a callee and 4 callers registered through it, CALLS calls at CONCURRENCY. */
async function run(signing: boolean): Promise<number> {
  const sbc = await sbcFor(signing);
  const base = { transport: 'udp' as const, mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: sbc.ports.udp! } };
  const bob = await terminal();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let ready!: () => void;
  const registered = new Promise<void>((r) => (ready = r));
  const answering = answerCalls({ ...base, ...bob, calls: 1e9, stop: stopped, onEvent: (e) => e.event === 'registered' && ready() });
  await registered;
  const callers: Array<{ term: SipTerminal; idc: string; waiters: ByeWaiters }> = [];
  for (let i = 0; i < 4; i++) {
    const t = await terminal();
    const waiters: ByeWaiters = new Map();
    let term: SipTerminal | undefined;
    term = new SipTerminal({ ...base, ...t, onRequest: callerRequests(() => term!, waiters, () => undefined) });
    await register(term, () => undefined, t.idc);
    callers.push({ term, idc: t.idc, waiters });
  }
  let started = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    const c = callers[w % callers.length]!;
    while (started < CALLS) {
      started++;
      const code = await dial(c.term, { idc: c.idc, to: bob.idc, holdSeconds: 0 }, () => undefined, c.waiters);
      if (code !== 0) failed++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  stop();
  await answering;
  await Promise.all(callers.map((c) => c.term.close()));
  await sbc.close();
  if (failed) console.error(`  (${failed} calls failed in this run)`);
  return CALLS / secs;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const on: number[] = [];
const off: number[] = [];
await run(true); // warm-up
for (let i = 0; i < RUNS; i++) {
  off.push(await run(false));
  on.push(await run(true));
  console.log(`run ${i + 1}: signing off ${off.at(-1)!.toFixed(0)} calls/s, on ${on.at(-1)!.toFixed(0)} calls/s`);
}
const mOn = median(on);
const mOff = median(off);
console.log(`calls/s (INVITE→180→200→ACK→BYE→200 through SBC and softswitch, ${CALLS} calls, ${CONCURRENCY} in flight, median of ${RUNS}):`);
console.log(`  signing off: ${mOff.toFixed(0)}`);
console.log(`  signing on:  ${mOn.toFixed(0)}`);
console.log(`  ratio on/off: ${(mOn / mOff).toFixed(3)} (signing costs ${((1 - mOn / mOff) * 100).toFixed(1)}% of throughput; target < 10%)`);
await ss.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
