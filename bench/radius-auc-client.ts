/**
 * npx tsx bench/radius-auc-client.ts [tree]
 *
 * The softswitch's side of the Digest HA1 exchange with the AuC over RADIUS
 * (src/adapters/radius/auc-client.ts over src/radius/client-transport.ts):
 * `digest()` through boundedAuc as the softswitch calls it, 20 in flight,
 * against a responder in a child process that answers each Access-Request
 * with an Access-Accept carrying a hidden HA1 and Keyswitch-Failures-Pending
 * No. Prints this process's CPU time (process.cpuUsage) per exchange, the
 * responder's left out: median of 5 rounds of 20,000. `tree`: another
 * checkout's root, to compare two trees in alternation.
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as ClientModule from '../src/adapters/radius/auc-client.js';
import type * as GuardModule from '../src/softswitch/auc-guard.js';
import type * as CodecModule from '../src/radius/codec.js';
import type * as PacketModule from '../src/radius/packet.js';
import type * as AttrModule from '../src/adapters/radius/auc-attributes.js';

const SECRET = 'bench-secret';

if (process.argv[2] === '--responder') {
  const tree = process.argv[3]!;
  const load = async <T>(p: string): Promise<T> => (await import(pathToFileURL(join(tree, 'src', p)).href)) as T;
  const { encodePacket } = await load<typeof CodecModule>('radius/codec.ts');
  const { walkPacket } = await load<typeof PacketModule>('radius/packet.ts');
  const { digestAcceptAttributes } = await load<typeof AttrModule>('adapters/radius/auc-attributes.ts');
  const secret = Buffer.from(SECRET);
  const sock = createSocket('udp4');
  const attrs = digestAcceptAttributes('0123456789abcdef0123456789abcdef', false);
  sock.on('message', (msg, from) => {
    const w = walkPacket(msg);
    if (!w.ok) return;
    sock.send(encodePacket({ code: 2, identifier: w.packet.identifier, secret, attributes: attrs, requestAuthenticator: w.packet.authenticator }), from.port, from.address);
  });
  sock.bind(0, '127.0.0.1', () => process.send!(sock.address().port));
} else {
  const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
  const load = async <T>(p: string): Promise<T> => (await import(pathToFileURL(join(tree, 'src', p)).href)) as T;
  const { RadiusAucClient } = await load<typeof ClientModule>('adapters/radius/auc-client.ts');
  const { boundedAuc } = await load<typeof GuardModule>('softswitch/auc-guard.ts');
  const child = fork(import.meta.filename, ['--responder', tree], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((ok) => child.once('message', (m) => ok(m as number)));
  const client = new RadiusAucClient({ secret: SECRET, servers: [{ host: '127.0.0.1', authPort: port, acctPort: port + 1 }], timeoutMs: 666, totalTimeoutMs: 2000 });
  const auc = boundedAuc(client, 2000, 0);
  const req = { idc: 'user1@lab.example', username: 'user1', realm: 'lab.example', algorithm: 'MD5' as const };
  async function round(count: number): Promise<number> {
    let started = 0;
    const t0 = process.cpuUsage();
    const worker = async (): Promise<void> => {
      while (started < count) {
        started++;
        const r = await auc.digest(req);
        if (!r.ok || r.ha1.length !== 32) throw new Error('bad answer');
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    const d = process.cpuUsage(t0);
    return (d.user + d.system) / count;
  }
  await round(20_000);
  const per: number[] = [];
  for (let i = 0; i < 5; i++) per.push(await round(20_000));
  per.sort((a, b) => a - b);
  console.log(`${tree}: ${per.map((x) => x.toFixed(1)).join(' / ')} µs CPU per digest() exchange (median ${per[2]!.toFixed(1)})`);
  await client.close();
  child.kill();
}
