/**
 * npm run bench:register [-- --proto sip,mgcp,h248,h323 --auc radius,diameter --count 2000 --concurrency 64 --runs 3 --memory 20000 --digest 5000]
 *
 * Runs the AuC, the softswitch and the SBC as three separate processes (as a
 * lab would), registers provisioned terminals through the whole flow from this
 * process, and prints registrations per second with p50/p99 latency; then the
 * p99 at half that rate, Digest registrations per second driven by sipp, and
 * the SBC's memory per registered terminal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { H248Gateway } from '../src/terminal/h248-gateway.js';
import type { MgcpGateway as MgcpGatewayType } from '../src/terminal/mgcp-gateway.js';
import { freePorts, upEnv } from '../test/helpers/ports.js';
import { cpuSeconds } from './proc-stat.js';

/**
 * The load generator's terminals, gateways and store come from the compiled dist/ when the roles
 * run from it (bin/keyswitch.js's rule), not from the sources through tsx, whose transform adds a
 * helper call to every function it creates: the generator shares the two cores with the roles, and
 * every microsecond it spends is one the roles do not get (docs/performance.md,
 * "Bindings, the SBC's wrap key, the load generator, and the load step again (session 20)").
 */
const fromDist = process.env.KEYSWITCH_FROM_SOURCE !== '1' && existsSync(join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js'));
const lib = fromDist ? '../dist/src' : '../src';
const { openStore } = (await import(`${lib}/store/index.js`)) as typeof import('../src/store/index.js');
const { registerGateway } = (await import(`${lib}/terminal/gateway-register.js`)) as typeof import('../src/terminal/gateway-register.js');
const { openH248Gateway } = (await import(`${lib}/terminal/h248-gateway.js`)) as typeof import('../src/terminal/h248-gateway.js');
const { registerH323 } = (await import(`${lib}/terminal/h323-endpoint.js`)) as typeof import('../src/terminal/h323-endpoint.js');
const { MgcpGateway } = (await import(`${lib}/terminal/mgcp-gateway.js`)) as typeof import('../src/terminal/mgcp-gateway.js');
const { SipTerminal } = (await import(`${lib}/terminal/sip-terminal.js`)) as typeof import('../src/terminal/sip-terminal.js');
const { SipUac } = (await import(`${lib}/terminal/sip-uac.js`)) as typeof import('../src/terminal/sip-uac.js');

const HELP = `npm run bench:register [-- options]

KS1 registrations through the AuC, the softswitch and the SBC run as three
processes, driven from this process: registrations/s with p50/p99 latency,
then p99 at half that rate, Digest registrations/s driven by sipp, and the
SBC's memory per registered terminal.

  --proto LIST        sip,mgcp,h248,h323 (default sip)
  --auc LIST          radius,diameter (default both)
  --count N           registrations per run (default 2000)
  --concurrency N     registrations in flight (default 64)
  --runs N            runs per protocol and AuC link; the median is printed (default 3)
  --memory N          terminals registered for the memory figure (default 10000; 0: skip)
  --digest N          sipp Digest registrations (default 5000; 0: skip)
  --digest-rate LIST  sipp offered rates (default 3500,400)
  --reasons           print why KS1 registrations failed, counted
  --cpu-prof DIR      each role under node --cpu-prof, profiles into DIR
  --node-flags "F"    V8/Node flags for each role process, space-separated (e.g. "--max-semi-space-size=32":
                      the roles run alone here, so keyswitch up's up.semiSpaceMb does not apply)
  --offer LIST        also offer these rates (registrations/s, comma list), open loop: each run registers
                      --count terminals at that pace, up to --offer-in-flight at once, as terminals
                      arriving on their own would; prints completed/s, failed, p50/p99 and each role's
                      CPU per registration (median of --runs runs). The closed loop's --concurrency
                      caps what it measures at concurrency ÷ latency; an offered rate does not
  --offer-in-flight N registrations in flight at most in an offered run (default 2000)
  --offer-seconds S   offer each rate for S seconds (default: --count ÷ rate): the --count terminals register
                      again in turn, each once its previous registration has ended (a gateway runs one at a time)
  --half-runs N       runs at half the measured rate; their median p50/p99 is printed, each run's p99 beside it (default 3)
  --trace PREFIX      the half-rate runs' registrations, one line each (start ms, latency ms),
                      into PREFIX-<proto>-<auc>.txt: a tail of stalls shows as bursts ending at one instant
  --new-gateways      MGCP/H.248: a new gateway (socket, port, derived keys) for every registration, as
                      up to session 7; default: one gateway per identity, opened before the runs, registering again
  -h, --help          this text
`;
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}

const { values: args } = parseArgs({
  options: {
    proto: { type: 'string', default: 'sip' },
    auc: { type: 'string', default: 'radius,diameter' },
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    memory: { type: 'string', default: '10000' },
    digest: { type: 'string', default: '5000' },
    'digest-rate': { type: 'string', default: '3500,400' },
    /** Print why KS1 registrations failed (the terminal's error, counted), after each result line. */
    reasons: { type: 'boolean', default: false },
    /** Start each role under `node --cpu-prof` writing its profile into this directory (bench/cpuprofile-summary.ts reads them). */
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    trace: { type: 'string' },
    'new-gateways': { type: 'boolean', default: false },
    'half-runs': { type: 'string', default: '3' },
    offer: { type: 'string', default: '' },
    'offer-in-flight': { type: 'string', default: '2000' },
    'offer-seconds': { type: 'string', default: '0' },
  },
});
const protos = args.proto.split(',');
const aucs = args.auc.split(',');
const count = Number(args.count);
const concurrency = Number(args.concurrency);
const runs = Number(args.runs);
const memoryTerminals = Number(args.memory);
const digestCount = Number(args.digest);
const halfRuns = Math.max(1, Number(args['half-runs']));
const offers = args.offer.split(',').filter(Boolean).map(Number);
if (offers.some((r) => !(r > 0))) throw new Error('--offer is a comma list of registrations per second, each above 0');
const offerInFlight = Number(args['offer-in-flight']);
const offerSeconds = Number(args['offer-seconds']);
if (!(offerSeconds >= 0)) throw new Error('--offer-seconds is a number of seconds (0: --count ÷ rate)');
const nodeFlags = args['node-flags'].split(' ').filter(Boolean);

const BIN = join(import.meta.dirname, '..', 'bin', 'keyswitch.js');
const dir = mkdtempSync(join(tmpdir(), 'ks-bench-'));
const dataDir = join(dir, 'data');
const masterKey = randomBytes(32).toString('hex');
const sbcKey = randomBytes(32).toString('hex');
const children: ChildProcess[] = [];
const failureReasons = new Map<string, number>();

const up = await upEnv();
const { sbcSip, sbcMgcp, sbcH248, sbcH323 } = up.ports as Record<string, number>;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...up.env,
  KEYSWITCH_DATA_DIR: dataDir,
  KEYSWITCH_MASTER_KEY: masterKey,
  KEYSWITCH_LOG_LEVEL: 'error',
  KEYSWITCH_RADIUS_SECRET: randomBytes(16).toString('hex'),
  KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
  KEYSWITCH_SBC_KEY: sbcKey,
  // One load generator speaking for thousands of identities from one socket is what the intrusion
  // detection's scan rule blocks (the benchmark then hangs on dropped requests): off unless asked for.
  KEYSWITCH_IDS: process.env.KEYSWITCH_IDS ?? 'off',
};

function start(role: string, extraEnv: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const prof = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...nodeFlags, ...prof, BIN, role], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${role} exited ${code}: ${out}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** write(2)/writev(2) calls a process has made (syscw of /proc/<pid>/io); NaN where unreadable. */
function writeSyscalls(pid: number): number {
  try {
    const m = /syscw:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

// --- provisioning ----------------------------------------------------------
const total = Math.max(count, memoryTerminals);
const terminals = Array.from({ length: total }, (_, i) => ({ idc: `bench${i}@lab.example`, kc: randomBytes(32) }));
{
  process.stderr.write(`provisioning ${fmt(total)} terminals and ${fmt(digestCount ? 1000 : 0)} Digest users…\n`);
  const store = await openStore({ dataDir, masterKeyHex: masterKey });
  await store.proxies.create('sbc1.lab.example', Buffer.from(sbcKey, 'hex'));
  for (let i = 0; i < terminals.length; i += 500) {
    await Promise.all(terminals.slice(i, i + 500).map((t) => store.terminals.create(t.idc, t.kc)));
  }
  if (digestCount) for (let i = 0; i < 1000; i++) await store.terminals.create(`d${i}@127.0.0.1`, randomBytes(32), `pw${i}`);
  await store.close();
}

// --- one registration ------------------------------------------------------
type One = (t: { idc: string; kc: Buffer }) => Promise<boolean>;

async function sipRegistrar(): Promise<{ one: One; close(): Promise<void> }> {
  // One UDP socket for all simulated terminals, as a load generator would.
  const uac = await SipUac.open({ transport: 'udp', server: { host: '127.0.0.1', port: sbcSip } });
  // One SipTerminal per identity for the whole benchmark, as a phone is one device registering again and again:
  // its derived keys (K_auth, K_wrap), Call-ID and Contact are made once, every KS1 run's own crypto each time.
  // Made before any timed run (a phone derives its keys when it starts, not when it registers).
  const make = (t: { idc: string; kc: Buffer }) => new SipTerminal({ idc: t.idc, kc: t.kc, mechs: 'app-hmac;q=0.5', transport: 'udp', sbc: { host: '127.0.0.1', port: sbcSip } });
  const terms = new Map(terminals.slice(0, count).map((t) => [t.idc, make(t)]));
  return {
    one: async (t) => {
      let term = terms.get(t.idc);
      if (!term) terms.set(t.idc, (term = make(t)));
      try {
        await term.registerKs1(uac);
        // What a phone keeps after registering (the last 200, the session's keys and signers) is not the
        // generator's to keep: thousands of them held across runs were old-generation heap for every GC.
        term.lastOk = term.session = term.signer = term.verifier = undefined;
        return true;
      } catch (e) {
        if (args.reasons) {
          const why = (e as Error).message;
          failureReasons.set(why, (failureReasons.get(why) ?? 0) + 1);
        }
        return false;
      }
    },
    close: () => uac.close(),
  };
}

/** An H.323 endpoint: KS1 over RAS (GRQ/GRJ, RRQ/RCF), then one protected lightweight RRQ, as the CLI does. */
function h323Registrar(): { one: One; close(): Promise<void> } {
  return {
    one: async (t) => {
      const r = await registerH323({ idc: t.idc, kc: t.kc, sbc: { host: '127.0.0.1', port: sbcH323 }, local: { host: '127.0.0.1', port: 0 } });
      if (!r.ok && args.reasons) failureReasons.set(r.error, (failureReasons.get(r.error) ?? 0) + 1);
      return r.ok;
    },
    close: async () => {},
  };
}

/**
 * Gateways as they are in service: one per identity, each on its own socket from before the timed runs, its keys
 * (K_auth, K_wrap) derived when it opened; every registration is a whole KS1 run (s1 to s10, the gateway's own
 * crypto) and then one protected command (MGCP AUEP, H.248 Notify), as `keyswitch terminal` checks.
 * `--new-gateways`: a new gateway (socket, port, keys) per registration instead, the shape of sessions 1–7.
 */
async function gatewayRegistrar(proto: 'mgcp' | 'h248'): Promise<{ one: One; close(): Promise<void> }> {
  const port = proto === 'mgcp' ? sbcMgcp : sbcH248;
  const sbc = { host: '127.0.0.1', port };
  const note = (why: string) => {
    if (args.reasons) failureReasons.set(why, (failureReasons.get(why) ?? 0) + 1);
    return false;
  };
  if (args['new-gateways']) {
    return {
      one: async (t) => {
        const r = await registerGateway({ proto, idc: t.idc, kc: t.kc, sbc });
        return r.ok || note(r.error);
      },
      close: async () => {},
    };
  }
  const list = terminals.slice(0, count);
  if (proto === 'mgcp') {
    const gws = new Map<string, MgcpGatewayType>();
    for (const t of list) gws.set(t.idc, await MgcpGateway.open({ idc: t.idc, kc: t.kc, sbc, listen: { host: '127.0.0.1', port: 0 } }));
    return {
      one: async (t) => {
        const gw = gws.get(t.idc)!;
        const r = await gw.register();
        if (!r.ok) return note(r.message);
        const probe = await gw.command('AUEP');
        if (!probe.ok || probe.response.code >= 300) return note(`protected AUEP refused (${probe.ok ? probe.response.code : probe.error})`);
        return true;
      },
      close: async () => {
        await Promise.all([...gws.values()].map((g) => g.close()));
      },
    };
  }
  const gws = new Map<string, H248Gateway>();
  for (const t of list) gws.set(t.idc, await openH248Gateway({ idc: t.idc, kc: t.kc, sbc, local: { host: '127.0.0.1' } }));
  return {
    one: async (t) => {
      const gw = gws.get(t.idc)!;
      const r = await gw.register();
      if (!r.ok) return note(r.message);
      const probe = await gw.notify('ROOT', 'g/sc', {});
      if (!probe.ok) return note(`protected Notify refused (${probe.code ?? ''} ${probe.message})`);
      return true;
    },
    close: async () => {
      for (const g of gws.values()) g.close();
    },
  };
}

const trace: string[] = [];

/**
 * Each role's CPU (utime + stime from /proc, all threads) and this process's, and the roles' write/writev system
 * calls (TCP: the Diameter link; UDP sends are sendmsg and not counted), from now to the call of the function
 * returned, per registration done.
 */
function costPerRegistration(rolePids: ReadonlyArray<readonly [string, number]>) {
  const cpu0 = rolePids.map(([, pid]) => cpuSeconds([pid]));
  const syscw0 = rolePids.map(([, pid]) => writeSyscalls(pid));
  const self0 = process.cpuUsage();
  return (done: number) => {
    const selfUs = process.cpuUsage(self0);
    const cpuMs = rolePids.map(([name, pid], i) => `${name} ${(((cpuSeconds([pid]) - cpu0[i]!) * 1000) / done).toFixed(2)}`);
    cpuMs.push(`bench ${((selfUs.user + selfUs.system) / 1000 / done).toFixed(2)}`);
    const writes = rolePids.map(([name, pid], i) => `${name} ${((writeSyscalls(pid) - syscw0[i]!) / done).toFixed(1)}`);
    return { cpuMs, writes };
  };
}

/** Registers `list` with at most `conc` in flight, optionally paced at `rate`/s; returns throughput and latencies. */
async function drive(one: One, list: { idc: string; kc: Buffer }[], conc: number, rate?: number) {
  const lat: number[] = [];
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  // a terminal listed again waits for its previous registration to end (--offer-seconds)
  const busy = new Map<string, Promise<unknown>>();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= list.length) return;
      if (rate) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      const t = list[i]!;
      for (let before = busy.get(t.idc); before; before = busy.get(t.idc)) await before;
      const s = performance.now();
      const run = one(t);
      busy.set(t.idc, run);
      const ok = await run;
      if (busy.get(t.idc) === run) busy.delete(t.idc);
      if (ok) {
        const ms = performance.now() - s;
        lat.push(ms);
        if (rate && args.trace) trace.push(`${(s - t0).toFixed(1)} ${ms.toFixed(1)}`);
      }
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perSec: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), failed };
}

// --- the runs ---------------------------------------------------------------
console.log(`keyswitch registration benchmark — ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}`);
console.log(`three processes (auc, softswitch, sbc) + this load generator; ${fmt(count)} registrations per run, ${concurrency} in flight, median of ${runs} runs; intrusion detection ${env.KEYSWITCH_IDS}; SBC–softswitch link ${process.env.KEYSWITCH_SBC_CORE_TRANSPORT ?? 'tcp'}; load generator from ${fromDist ? 'dist/' : 'the sources (tsx)'}`);
const aucPid = (await start('auc', {}, /AuC Diameter/)).pid!; // stopped with the other children in the finally below
try {
  for (const aucProto of aucs) {
    const softswitch = await start('softswitch', { KEYSWITCH_AUC_PROTOCOL: aucProto }, /softswitch SIP/);
    const sbc = await start('sbc', {}, /SBC SIP/);
    await new Promise((r) => setTimeout(r, 300));
    for (const proto of protos) {
      const reg = proto === 'sip' ? await sipRegistrar() : proto === 'h323' ? h323Registrar() : await gatewayRegistrar(proto as 'mgcp' | 'h248');
      await drive(reg.one, terminals.slice(0, Math.min(200, count)), concurrency); // warm-up
      const results = [];
      // CPU per registration of each role (utime + stime from /proc, all threads), over the timed runs only
      const rolePids = [['auc', aucPid], ['softswitch', softswitch.pid!], ['sbc', sbc.pid!]] as const;
      const usage = costPerRegistration(rolePids);
      for (let r = 0; r < runs; r++) results.push(await drive(reg.one, terminals.slice(0, count), concurrency));
      const { cpuMs, writes } = usage(results.reduce((a, x) => a + count - x.failed, 0));
      const best = median(results.map((x) => x.perSec));
      const mid = results.find((x) => x.perSec === best)!;
      // One half-rate run's p99 swings more from run to run than between links or trees (quiet machine, sessions
      // 5-7: 23-113 ms for the same row): the median of --half-runs runs, each run's p99 listed beside it.
      const halves = [];
      for (let r = 0; r < halfRuns; r++) halves.push(await drive(reg.one, terminals.slice(0, count), concurrency, best / 2));
      const halfP99 = median(halves.map((x) => x.p99));
      const half = { p50: median(halves.map((x) => x.p50)), p99: halfP99, failed: halves.reduce((a, x) => a + x.failed, 0) };
      if (args.trace) writeFileSync(`${args.trace}-${proto}-${aucProto}.txt`, trace.splice(0).join('\n') + '\n');
      console.log(
        `KS1 ${proto.padEnd(4)} AuC over ${aucProto.padEnd(8)} ${fmt(best).padStart(6)} reg/s  p50 ${mid.p50.toFixed(1)} ms  p99 ${mid.p99.toFixed(1)} ms` +
          `  | at ${fmt(best / 2)}/s: p50 ${half.p50.toFixed(1)} ms p99 ${half.p99.toFixed(1)} ms${halfRuns > 1 ? ` (${halves.map((x) => x.p99.toFixed(0)).join('/')})` : ''}` +
          `  | failed ${results.reduce((a, x) => a + x.failed, 0) + half.failed}` +
          `  | CPU ms/reg ${cpuMs.join(' + ')}  | write syscalls/reg ${writes.join(', ')}`,
      );
      for (const rate of offers) {
        const offered = [];
        const cost = costPerRegistration(rolePids);
        const n = offerSeconds > 0 ? Math.round(rate * offerSeconds) : count;
        const list = Array.from({ length: n }, (_, i) => terminals[i % count]!);
        for (let r = 0; r < runs; r++) offered.push(await drive(reg.one, list, offerInFlight, rate));
        const c = cost(offered.reduce((a, x) => a + n - x.failed, 0));
        const failed = offered.reduce((a, x) => a + x.failed, 0);
        const done = median(offered.map((x) => x.perSec));
        console.log(
          `KS1 ${proto.padEnd(4)} AuC over ${aucProto.padEnd(8)} offered ${fmt(rate)}/s for ${(n / rate).toFixed(1)} s: completed ${fmt(done)}/s (${offered.map((x) => fmt(x.perSec)).join(' / ')})` +
            `  p50 ${median(offered.map((x) => x.p50)).toFixed(1)} ms  p99 ${median(offered.map((x) => x.p99)).toFixed(1)} ms (${offered.map((x) => x.p99.toFixed(0)).join('/')})  | failed ${failed}` +
            `  | CPU ms/reg ${c.cpuMs.join(' + ')}  | write syscalls/reg ${c.writes.join(', ')}`,
        );
      }
      if (args.reasons && failureReasons.size) {
        for (const [why, n] of [...failureReasons].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)} × ${why}`);
      }
      failureReasons.clear();
      await reg.close();
    }
    if (aucProto === aucs[aucs.length - 1]) {
      if (digestCount && existsSync('/usr/bin/sipp')) {
        // sipp registers the 1000 Digest users in turn (injection file, bench/sipp/register-digest-inf.xml),
        // at each rate of --digest-rate (a comma list: 3500,1000,500 finds where failures start).
        // A fixed local port: with -p 0 sipp writes 5060 as [local_port] in every Contact.
        const users = join(dir, 'users.csv');
        writeFileSync(users, 'SEQUENTIAL\n' + Array.from({ length: 1000 }, (_, i) => `d${i};pw${i}`).join('\n') + '\n');
        const scenario = join(import.meta.dirname, 'sipp', 'register-digest-inf.xml');
        const [sippPort] = await freePorts(1);
        for (const rate of args['digest-rate'].split(',').map(Number)) {
          const stf = join(dir, `sipp-${rate}.csv`);
          const t0 = performance.now();
          const r = spawnSync('sipp', ['-sf', scenario, '-inf', users, '-m', String(digestCount), '-r', String(rate), '-l', '500', '-i', '127.0.0.1', '-p', String(sippPort), `127.0.0.1:${sbcSip}`, '-nostdin', '-timeout', '120s', '-trace_stat', '-stf', stf], { encoding: 'utf8', timeout: 180_000 });
          const secs = (performance.now() - t0) / 1000;
          const stat = existsSync(stf) ? readFileSync(stf, 'utf8').trim().split('\n') : [];
          const head = (stat[0] ?? '').split(';');
          const last = (stat[stat.length - 1] ?? '').split(';');
          const col = (name: string) => Number(last[head.indexOf(name)] ?? NaN);
          const ok = col('SuccessfulCall(C)');
          const failed = col('FailedCall(C)');
          // sustained: every registration got its 200 and sipp kept (within the start and the tail) the pace asked
          const kept = failed === 0 && r.status === 0 && ok / secs >= 0.9 * rate;
          console.log(
            `Digest sipp through SBC, AuC over ${aucProto}, asked ${fmt(rate)}/s: ${fmt(ok / secs)} reg/s, ${ok} ok, ${failed} failed,` +
              ` ${col('Retransmissions(C)')} retransmissions, sipp exit ${r.status}${kept ? ' — sustained' : ''}`,
          );
        }
      } else if (digestCount) console.log('Digest: sipp not installed, skipped');
      if (memoryTerminals && protos.includes('sip')) {
        const reg = await sipRegistrar();
        const before = rssKiB(sbc.pid!);
        const m = await drive(reg.one, terminals.slice(0, memoryTerminals), concurrency);
        // Let the run's SIP transactions end (Timer J keeps a UDP server transaction 32 s) so that
        // what remains is what the SBC keeps per registered terminal.
        await new Promise((r) => setTimeout(r, 35_000));
        const after = rssKiB(sbc.pid!);
        console.log(`SBC memory: RSS ${fmt(before)} KiB → ${fmt(after)} KiB after ${fmt(memoryTerminals - m.failed)} registered terminals: ${((after - before) * 1024 / (memoryTerminals - m.failed)).toFixed(0)} bytes per terminal (RSS delta 35 s after the run, transactions ended; includes heap not yet returned to the OS)`);
        await reg.close();
      }
    }
    await stop(sbc);
    await stop(softswitch);
  }
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
