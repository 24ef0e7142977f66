/**
 * npm run bench:memory [-- --terminals 100000 --concurrency 64]
 *
 * The SBC's heap per registered terminal: `keyswitch up` runs with
 * NODE_OPTIONS=--expose-gc, so each role collects garbage before it reports
 * its heap to a scrape (src/cli/up-child.ts); this reads
 * nodejs_heap_size_used_bytes{role="sbc"} from metrics.address before any
 * registration and once --terminals KS1 terminals (app-hmac, SIP over UDP,
 * one socket for all as a load generator would) are registered through the
 * SBC, and prints the difference per terminal. Target: ≤ 2 KB (issue 9).
 *
 * The heap read after a forced GC holds what the SBC keeps per terminal
 * (session table entry with its keys and app-hmac state, contact bindings,
 * the flow's records) and no garbage; transactions of the registrations
 * have ended (it waits 40 s, past Timer K and J, before the last reading).
 * Figures only. On a shared machine the registration rate is noisy; the heap
 * figure is not.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/index.js';
import { SipTerminal } from '../src/terminal/sip-terminal.js';
import { SipUac } from '../src/terminal/sip-uac.js';
import { upEnv } from '../test/helpers/ports.js';

const { values: args } = parseArgs({
  options: {
    terminals: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '64' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}
const count = Number(args.terminals);
const concurrency = Number(args.concurrency);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BIN = join(import.meta.dirname, '..', 'bin', 'keyswitch.js');
const dir = mkdtempSync(join(tmpdir(), 'ks-bench-memory-'));
const masterKey = randomBytes(32).toString('hex');
const terminals = Array.from({ length: count }, (_, i) => ({ idc: `m${i}@lab.example`, kc: randomBytes(32) }));

process.stderr.write(`provisioning ${fmt(count)} terminals…\n`);
{
  const store = await openStore({ dataDir: join(dir, 'data'), masterKeyHex: masterKey });
  for (let i = 0; i < terminals.length; i += 500) {
    await Promise.all(terminals.slice(i, i + 500).map((t) => store.terminals.create(t.idc, t.kc)));
    if (i % 20_000 === 0) process.stderr.write(`  ${fmt(i)}\n`);
  }
  await store.close();
}

const up = await upEnv();
const proc = spawn(process.execPath, [BIN, 'up'], {
  env: { ...process.env, ...up.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim(), KEYSWITCH_DATA_DIR: join(dir, 'data'), KEYSWITCH_MASTER_KEY: masterKey, KEYSWITCH_LOG_LEVEL: 'warn', KEYSWITCH_EXPIRES_MAX_SECONDS: '86400', KEYSWITCH_IDS: 'off' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
await new Promise<void>((ok, fail) => {
  const timer = setTimeout(() => fail(new Error(`keyswitch up not ready in 60 s: ${out}`)), 60_000);
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
    if (/metrics \(and \/healthz\)/.test(out)) {
      clearTimeout(timer);
      ok();
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.once('exit', (code) => fail(new Error(`keyswitch up exited ${code}: ${out}`)));
});
proc.removeAllListeners('exit');

/** The SBC role's heap after a forced GC, and the terminals it holds. */
async function sbcHeap(): Promise<{ heap: number; registered: number }> {
  const text = await (await fetch(`http://127.0.0.1:${up.ports.metrics}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return { heap: value(/^nodejs_heap_size_used_bytes\{role="sbc"\} (\S+)$/m), registered: value(/^keyswitch_sbc_registered_terminals (\S+)$/m) };
}

try {
  const uac = await SipUac.open({ transport: 'udp', server: { host: '127.0.0.1', port: up.ports.sbcSip! } });
  const one = async (t: { idc: string; kc: Buffer }) => {
    const term = new SipTerminal({ idc: t.idc, kc: t.kc, mechs: 'app-hmac;q=0.5', transport: 'udp', sbc: { host: '127.0.0.1', port: up.ports.sbcSip! }, expires: 86400 });
    try {
      await term.registerKs1(uac);
      return true;
    } catch {
      return false;
    }
  };
  // warm-up (JIT, first allocations of every table), then the baseline
  for (let i = 0; i < 50; i++) await one({ idc: `warm${i}@lab.example`, kc: randomBytes(32) }).catch(() => false);
  await sleep(40_000);
  const before = await sbcHeap();
  process.stderr.write(`SBC heap before: ${fmt(before.heap / 1048576, 1)} MiB, ${fmt(before.registered)} registered\n`);
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= terminals.length) return;
        if (!(await one(terminals[i]!))) failed++;
        if (i % 10_000 === 0 && i) process.stderr.write(`  ${fmt(i)} registered, ${fmt(i / ((performance.now() - t0) / 1000))}/s\n`);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await uac.close();
  process.stderr.write('waiting 40 s for the transactions to end…\n');
  await sleep(40_000);
  const after = await sbcHeap();
  const added = after.registered - before.registered;
  console.log(`keyswitch up, KS1 app-hmac over UDP: ${fmt(count - failed)} of ${fmt(count)} registered in ${fmt(secs)} s (${fmt((count - failed) / secs)}/s; shared machine: noisy), ${fmt(failed)} failed`);
  console.log(`SBC heap after a forced GC: ${fmt(before.heap / 1048576, 1)} MiB with ${fmt(before.registered)} registered → ${fmt(after.heap / 1048576, 1)} MiB with ${fmt(after.registered)}`);
  console.log(`SBC heap per registered terminal: ${fmt((after.heap - before.heap) / added)} bytes (target ≤ 2,048)`);
} finally {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
