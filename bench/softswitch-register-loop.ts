/**
 * npx tsx bench/softswitch-register-loop.ts [tree] [--dist] [--count N] [--rounds R] [--in-flight K] [--cpu-prof DIR]
 *
 * The softswitch's own CPU per Digest registration, without the SBC, the AuC, the RADIUS link or
 * sipp beside it: the real `startSoftswitch` of `tree` (another checkout's root, to compare two
 * trees in alternation; default this one) runs alone in a child process as `keyswitch up` runs
 * it (core link verified, SQLite location store in a temp dir, refresh reports spared for 60 s,
 * the AuC link timed by the metrics), with an AuC that answers HA1 in process at once. This
 * process plays the SBC for 1,000 Digest phones over loopback UDP: REGISTER (signed for the core
 * link, with P-KS-IDSP and P-KS-IPC) → 401, REGISTER with the MD5 answer → 200, K in flight,
 * each phone refreshing its binding (as sipp's users do after the first round). The child's CPU
 * (utime + stime from /proc, all its threads) is read around each round: µs per registration,
 * median of R rounds of N after a warm-up of N. `--dist`: the tree's compiled dist/ (npm run
 * build there) instead of its sources via tsx. `--cpu-prof DIR`: the child runs under
 * `node --cpu-prof` (adds its own cost).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { cpuSeconds } from './proc-stat.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, d: number): number => Number(opt(name) ?? d);
const valued = new Set(['--count', '--rounds', '--in-flight', '--cpu-prof']);
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && valued.has(args[i - 1]!)));
const tree = resolve(positional[0] ?? join(import.meta.dirname, '..'));
const dist = args.includes('--dist');
const count = num('--count', 20_000);
const rounds = num('--rounds', 5);
const inFlight = num('--in-flight', 20);
const prof = opt('--cpu-prof');

// the SBC side: this tree's stack and core-link signer (their CPU is not counted)
const { createSipStack, createUdpTransport, createRequest } = await import('../src/sip/index.js');
const { coreLinkSigner } = await import('../src/adapters/sip/core-link.js');
const child = spawn(
  process.execPath,
  [...(dist ? [] : ['--import', 'tsx']), ...(prof ? ['--cpu-prof', '--cpu-prof-dir', resolve(prof)] : []), join(import.meta.dirname, 'softswitch-register-loop-child.mjs'), tree, dist ? 'dist' : 'src'],
  { cwd: tree, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KEYSWITCH_IDS: 'off' } },
);
const { port, key } = await new Promise<{ port: number; key: string }>((ok, fail) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line) ok(JSON.parse(line) as { port: number; key: string });
  });
  child.once('exit', (c) => fail(new Error(`the softswitch exited ${c}`)));
});
const sign = coreLinkSigner(Buffer.from(key, 'hex'));
const sbc = createSipStack({ transports: [await createUdpTransport({ host: '127.0.0.1' })], onRequest: () => undefined });
const REALM = 'lab.example';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const cseqs = new Map<number, number>();
let n = 0;
const one = async (): Promise<void> => {
  const u = n++ % 1000;
  const user = `u${u}`;
  const cseq = (cseqs.get(u) ?? 0) + 2;
  cseqs.set(u, cseq);
  const uri = `sip:${REALM}`;
  const req = (c: number, extra: Array<[string, string]>) => {
    const r = createRequest('REGISTER', uri, [
      ['From', `<sip:${user}@${REALM}>;tag=${u}SIPpTag00${c}`], ['To', `<sip:${user}@${REALM}>`], ['Call-ID', `${u}-loop@127.0.0.1`], ['CSeq', `${c} REGISTER`],
      ['Contact', `<sip:${user}@192.0.2.1:5060>`], ['Max-Forwards', '69'], ['Expires', '3600'], ['User-Agent', 'sipp'],
      ['P-KS-IDSP', 'sbc1.lab.example'], ['P-KS-IPC', '192.0.2.1'], ...extra,
    ]);
    sign(r);
    return r;
  };
  const dest = { destination: { address: '127.0.0.1', port, protocol: 'udp' as const } };
  const first = await sbc.send(req(cseq - 1, []), dest);
  if (first.status !== 401) throw new Error('first REGISTER: ' + first.status);
  const nonce = /nonce="([^"]+)"/.exec(first.get('WWW-Authenticate') ?? '')![1]!;
  const ha1 = md5(`${user}:${REALM}:pw-${user}`);
  const response = md5(`${ha1}:${nonce}:00000001:c0ffee:auth:${md5(`REGISTER:${uri}`)}`);
  const auth = `Digest username="${user}",realm="${REALM}",uri="${uri}",nonce="${nonce}",response="${response}",algorithm=MD5,cnonce="c0ffee",qop=auth,nc=00000001`;
  const second = await sbc.send(req(cseq, [['Authorization', auth]]), dest);
  if (second.status !== 200) throw new Error('second REGISTER: ' + second.status);
};
const run = async (total: number): Promise<number> => {
  const c0 = cpuSeconds([child.pid!]);
  let left = total;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (left-- > 0) await one();
  }));
  return ((cpuSeconds([child.pid!]) - c0) * 1e6) / total;
};
await run(count);
const xs: number[] = [];
for (let r = 0; r < rounds; r++) xs.push(await run(count));
const sorted = [...xs].sort((a, b) => a - b);
console.log(`${tree}${dist ? ' (dist)' : ''}: softswitch CPU µs per Digest registration, rounds of ${count}:`, xs.map((x) => x.toFixed(1)).join(' '), 'median', sorted[Math.floor(rounds / 2)]!.toFixed(1));
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await sbc.close();
process.exit(0);
