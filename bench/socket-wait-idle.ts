/**
 * npx tsx bench/socket-wait-idle.ts [--seconds 10]
 *
 * What measuring a socket's wait costs a process with nothing to do
 * (docs/performance.md, "The gateways' own gate (session 22)"): the
 * process's CPU over the same idle spell, three ways, each in a fresh child —
 * a bound UDP socket alone; with SocketWait, which probes only from the
 * receive path (so an idle socket sends nothing); and with a probe sent
 * from a 20-ms timer, as the first version did.
 */
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { SocketWait } from '../src/lib/socket-wait.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, child: { type: 'string' } } });
const seconds = Number(values.seconds);

async function child(kind: string): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const wait = new SocketWait(s);
  s.on('message', (b, f) => void wait.take(b, f));
  if (kind !== 'socket alone') wait.start(20);
  const timer = kind === 'timer probe' ? setInterval(() => s.send(Buffer.alloc(16), s.address().port, '127.0.0.1'), 20) : setInterval(() => {}, 60_000);
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c = process.cpuUsage(c0);
  clearInterval(timer);
  s.close();
  process.stdout.write(String((c.user + c.system) / 1000));
}

if (values.child) await child(values.child);
else {
  console.log(`CPU of an idle process over ${seconds} s (Node ${process.version})`);
  for (const kind of ['socket alone', 'receive-path probe', 'timer probe']) {
    const r = spawnSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--child', kind, '--seconds', String(seconds)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const ms = Number(r.stdout);
    console.log(`  ${kind.padEnd(20)} ${ms.toFixed(1).padStart(7)} ms  (${((100 * ms) / (seconds * 1000)).toFixed(2)} % of a core)`);
  }
}
