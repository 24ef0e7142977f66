/**
 * npx tsx bench/sbc-register-loop.ts [tree] [--dist] [--count N] [--rounds R] [--in-flight K]
 *
 * The SBC's own CPU per Digest registration, without the softswitch, the AuC or sipp beside it:
 * the real `startSbc` of `tree` (another checkout's root, to compare two trees in alternation;
 * default this one) runs alone in a child process, as `keyswitch up` runs it (core link signed,
 * header signing on, overload gate deciding on every request, contact map), and this process
 * plays 1,000 Digest phones and a registrar over loopback UDP: REGISTER → 401, REGISTER with
 * credentials → 200 with the Contact bound, K registrations in flight. The child's CPU
 * (utime + stime from /proc, all its threads: the GC's and the compiler's too) is read around
 * each round: µs per registration, median of R rounds of N after a warm-up of N.
 * `--dist`: the tree's compiled dist/ (npm run build there) instead of its sources via tsx,
 * whose helpers add a call to every closure created. `--gc`: the child runs with
 * --trace-gc-nvp, and each round also gives what its garbage collections saw per registration:
 * bytes allocated, bytes that survived a scavenge, bytes promoted to the old generation, and
 * the main thread's GC pause — figures the machine's load does not move, where the CPU time's
 * spread on a shared machine hides a cut of a few per cent.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { cpuSeconds } from './proc-stat.js';
import { SIPP_DIGEST } from './sipp-register.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : d;
};

{
  const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1]!.startsWith('--') && args[i - 1] !== '--dist'));
  const tree = resolve(positional[0] ?? join(import.meta.dirname, '..'));
  const dist = args.includes('--dist');
  const count = opt('--count', 20_000);
  const rounds = opt('--rounds', 5);
  const inFlight = opt('--in-flight', 20);
  const gc = args.includes('--gc');
  const gcSum = { allocated: 0, survived: 0, promoted: 0, pauseMs: 0 };
  const onGcLine = (line: string): void => {
    const f = (name: string): number => Number(new RegExp(`\\b${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
    gcSum.allocated += f('allocated');
    gcSum.survived += f('new_space_survived');
    gcSum.promoted += f('promoted');
    gcSum.pauseMs += f('pause');
  };
  // the phones and the registrar: this tree's stack (their CPU is not counted)
  const { createSipStack, createUdpTransport, createRequest } = await import('../src/sip/index.js');
  const core = createSipStack({
    transports: [await createUdpTransport()],
    onRequest: (req, ctx) => {
      if (!req.has('Authorization')) {
        ctx.respond(401, undefined, { toTag: 'core', headers: [['WWW-Authenticate', 'Digest realm="lab.example", nonce="EA_SG3d813d1SFng5Rbv0gt6ICPHEhjLVI0TXXiEb3U68NmJkrmV-klkS2k", opaque="cWLyk3etmQy9NxVO", algorithm=MD5, qop="auth"']] });
        return;
      }
      ctx.respond(200, undefined, { toTag: 'core', headers: [['Contact', `${req.get('Contact')};expires=3600`], ['Expires', '3600']] });
    },
  });
  const corePort = core.transports[0]!.port;
  const module = dist ? join(tree, 'dist', 'src', 'sbc', 'run.js') : join(tree, 'src', 'sbc', 'run.ts');
  const child = spawn(process.execPath, [...(gc ? ['--trace-gc-nvp'] : []), ...(dist ? [] : ['--import', 'tsx']), join(import.meta.dirname, 'sbc-register-loop-child.mjs'), module, String(corePort)], {
    cwd: tree, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KEYSWITCH_IDS: 'off' },
  });
  const sbcPort = await new Promise<number>((ok, fail) => {
    let out = '';
    let started = false;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (!started && line.startsWith('{')) {
          started = true;
          ok((JSON.parse(line) as { port: number }).port);
        } else if (line.includes(' allocated=')) onGcLine(line);
      }
    });
    child.once('exit', (c) => fail(new Error(`the SBC exited ${c}`)));
  });
  const uac = createSipStack({ transports: [await createUdpTransport()], onRequest: () => undefined });
  const uacPort = uac.transports[0]!.port;
  let n = 0;
  const one = async (): Promise<void> => {
    const k = n++;
    const user = `u${k % 1000}`;
    const headers = (cseq: number): Array<[string, string]> => [
      ['From', `<sip:${user}@127.0.0.1>;tag=${k}SIPpTag00${k}`], ['To', `<sip:${user}@127.0.0.1>`], ['Call-ID', `${k}-loop@127.0.0.1`], ['CSeq', `${cseq} REGISTER`],
      ['Contact', `<sip:${user}@127.0.0.1:${uacPort}>`], ['Max-Forwards', '70'], ['Expires', '3600'], ['User-Agent', 'sipp'],
    ];
    const first = await uac.send(createRequest('REGISTER', `sip:127.0.0.1:${sbcPort}`, headers(1)));
    if (first.status !== 401) throw new Error('first REGISTER: ' + first.status);
    const second = await uac.send(createRequest('REGISTER', `sip:127.0.0.1:${sbcPort}`, [...headers(2), ['Authorization', SIPP_DIGEST.replace('u1', user)]]));
    if (second.status !== 200) throw new Error('second REGISTER: ' + second.status);
  };
  const gcRounds: string[] = [];
  const run = async (total: number): Promise<number> => {
    Object.assign(gcSum, { allocated: 0, survived: 0, promoted: 0, pauseMs: 0 });
    const c0 = cpuSeconds([child.pid!]);
    let left = total;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (left-- > 0) await one();
    }));
    const cpu = ((cpuSeconds([child.pid!]) - c0) * 1e6) / total;
    gcRounds.push(`${(gcSum.allocated / total / 1024).toFixed(1)} KB allocated, ${(gcSum.survived / total).toFixed(0)} B survived, ${(gcSum.promoted / total).toFixed(0)} B promoted, ${((gcSum.pauseMs * 1000) / total).toFixed(1)} µs paused`);
    return cpu;
  };
  await run(count);
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) xs.push(await run(count));
  const sorted = [...xs].sort((a, b) => a - b);
  if (gc) for (const [r, line] of gcRounds.slice(1).entries()) console.log(`  round ${r + 1}, per registration: ${line}`);
  console.log(`${tree}${dist ? ' (dist)' : ''}: SBC CPU µs per Digest registration, rounds of ${count}:`, xs.map((x) => x.toFixed(1)).join(' '), 'median', sorted[Math.floor(rounds / 2)]!.toFixed(1));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await uac.close();
  await core.close();
  process.exit(0);
}
