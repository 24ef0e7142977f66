/**
 * Registrations/s through gateway → SBC relay → softswitch → in-memory AuC
 * over loopback UDP (H.248 text, Annex B after registration), median of 5
 * runs, plus codec parse+serialise throughput and protected-message rate.
 *
 *   npx tsx bench/register-h248.ts [registrations-per-run] [concurrency]
 */
import { oneKeyAuc } from './one-key-auc.js';
import { parseMessage, serializeMessage } from '../src/h248/index.js';
import { startH248Relay } from '../src/sbc/h248-relay.js';
import { startH248Softswitch } from '../src/softswitch/h248-mgc.js';
import { registerH248Gateway } from '../src/terminal/h248-gateway.js';

const IDSP = 'sbc1.bench.example';
const { auc, kc: KC, ksp: KSP } = oneKeyAuc();

const perRun = Number(process.argv[2] ?? 300);
const concurrency = Number(process.argv[3] ?? 20);
/** Datagrams received by the SBC from gateways, and by the softswitch from the SBC, over the timed runs. */
const datagrams = { access: 0, core: 0 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(round: number): Promise<{ rate: number; p50: number }> {
  const ss = await startH248Softswitch({ listen: { host: '127.0.0.1', port: 0 }, auc });
  const sbc = await startH248Relay({ listen: { host: '127.0.0.1', port: 0 }, softswitch: { host: '127.0.0.1', port: ss.port }, sbc: { idsp: IDSP, ksp: KSP } });
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < perRun) {
        const i = next++;
        const r = await registerH248Gateway({ idc: `gw${round}-${i}@bench.example`, kc: KC, sbc: { host: '127.0.0.1', port: sbc.port }, local: { host: '127.0.0.1' } });
        if (!r.ok) throw new Error(`registration failed: ${r.message}`);
        lat.push(r.ms);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  datagrams.access += sbc.stats().access.received;
  datagrams.core += ss.stats().transport.received;
  sbc.close();
  ss.close();
  return { rate: perRun / s, p50: median(lat) };
}

async function protectedRate(): Promise<number> {
  const ss = await startH248Softswitch({ listen: { host: '127.0.0.1', port: 0 }, auc });
  const sbc = await startH248Relay({ listen: { host: '127.0.0.1', port: 0 }, softswitch: { host: '127.0.0.1', port: ss.port }, sbc: { idsp: IDSP, ksp: KSP } });
  const r = await registerH248Gateway({ idc: 'gw-protected@bench.example', kc: KC, sbc: { host: '127.0.0.1', port: sbc.port }, local: { host: '127.0.0.1' }, keepOpen: true });
  if (!r.ok || !r.gateway) throw new Error('registration failed');
  const n = 5000;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < n) {
      const x = await r.gateway!.notify('A4444', 'al/of');
      if (!x.ok) throw new Error(`protected notify failed: ${x.message}`);
    }
  }));
  const rate = n / ((performance.now() - t0) / 1000);
  r.gateway.close();
  sbc.close();
  ss.close();
  return rate;
}

function codecRate(): number {
  const text = Buffer.from(
    'AU=0x8d4487d2:0x00000001:0x0726075ed15a171698687899d0594992\n!/1 [192.0.2.1]:2944\nT=886245485{C=-{MF=ROOT{M{TS{ks/result=ok,ks/idc=gw1@lab.example,ks/idsp=sbc1.lab.example,ks/n1=KYSnvIZQ_UsR1NHN7YY40w,ks/n2=HmLq-EWGXpzucXzuSvsdpg,ks/ts=1795635185,ks/ekc=FZMBiJzbfQL7oR9cAr9FEmeOZH0fRhvHY0Br8qRd8QPy71Kabxjz6LSq75gsHxpB0-njcdwVsebilxdP,ks/mech=app-hmac,ks/mechs="app-hmac;q=0.5",ks/mac=rf7n8polyKMC8HU70739ow}}}}}\n',
  );
  const n = 50_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = parseMessage(text);
    if (!r.ok) throw new Error('parse failed');
    serializeMessage(r.message);
  }
  return n / ((performance.now() - t0) / 1000);
}

await run(99); // warm-up (JIT), not counted
const runs: { rate: number; p50: number }[] = [];
const cpu0 = process.cpuUsage();
datagrams.access = datagrams.core = 0;
for (let i = 0; i < 5; i++) runs.push(await run(i));
const cpu = process.cpuUsage(cpu0);
console.log(`H.248 registrations (gateway → SBC → softswitch → AuC, loopback UDP, ${perRun}/run, ${concurrency} concurrent):`);
console.log(`  runs: ${runs.map((r) => r.rate.toFixed(0)).join(', ')} reg/s`);
// all parties share this process: the CPU per registration is theirs together (load of other processes does not count)
console.log(`  CPU per registration, all parties: ${((cpu.user + cpu.system) / (5 * perRun)).toFixed(0)} µs; datagrams per registration: gateways → SBC ${(datagrams.access / (5 * perRun)).toFixed(2)}, SBC → softswitch ${(datagrams.core / (5 * perRun)).toFixed(2)}`);
console.log(`  median: ${median(runs.map((r) => r.rate)).toFixed(0)} reg/s; median registration latency ${median(runs.map((r) => r.p50)).toFixed(1)} ms`);
console.log(`Protected Notify round trips (Annex B app-hmac both ways, gateway → SBC → softswitch):`);
console.log(`  ${(await protectedRate()).toFixed(0)} msg/s`);
console.log(`Codec: parse + serialise of a 430-byte s10 Modify with Annex B header: ${codecRate().toFixed(0)} msg/s`);
