/**
 * npx tsx bench/auc-link.ts [--link radius,diameter] [--count 20000] [--rounds 5] [--concurrency 20]
 *
 * What the link between the softswitch and the AuC costs per Digest
 * registration, on each end, over RADIUS and over Diameter: the softswitch's
 * AuC client (src/adapters/<link>/auc-client.ts through boundedAuc, as the
 * softswitch calls it) makes a registration's two exchanges, `digest()` (HA1)
 * then `registered()` (the report), `--concurrency` registrations in flight,
 * against the AuC's server adapter of that link (src/adapters/<link>/auc-server.ts)
 * in a child process whose AucService answers at once from memory (no store,
 * no vault, no HA1 hash). So both figures are the link's: encode, decode,
 * signatures (RADIUS), framing, sockets and the event loop. Prints each
 * process's CPU (user + system, process.cpuUsage) per registration, the
 * median of `--rounds` rounds after one not counted, and the system share.
 * The links run alternately, one round each in turn.
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { AucUnavailableError, type AucService, type DigestResult, type FailureOutcome } from '../src/contracts/auc.js';
import { RadiusAucClient } from '../src/adapters/radius/auc-client.js';
import { startRadiusAucServer } from '../src/adapters/radius/auc-server.js';
import { DiameterAucClient } from '../src/adapters/diameter/auc-client.js';
import { startDiameterAucServer } from '../src/adapters/diameter/auc-server.js';
import { boundedAuc } from '../src/softswitch/auc-guard.js';

const SECRET = 'bench-link-secret';
type Link = 'radius' | 'diameter';
type Cpu = { user: number; system: number };

if (process.argv[2] === '--server') {
  const link = process.argv[3] as Link;
  const answer: DigestResult = { ok: true, ha1: '0123456789abcdef0123456789abcdef', failuresPending: false };
  const service: AucService = {
    vector: () => Promise.reject(new AucUnavailableError('not in this bench')),
    digest: () => Promise.resolve(answer),
    registered: () => Promise.resolve(),
    deregistered: () => Promise.resolve(),
    failed: (): Promise<FailureOutcome> => Promise.resolve({ locked: false }),
  };
  if (link === 'radius') {
    const s = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service });
    process.send!({ auth: s.authPort, acct: s.acctPort });
  } else {
    const s = await startDiameterAucServer({ host: '127.0.0.1', port: 0, originHost: 'auc.bench', originRealm: 'bench', service, peers: [{ originHost: 'ss.bench', addresses: ['127.0.0.1'] }] });
    process.send!({ port: s.port });
  }
  let mark = process.cpuUsage();
  process.on('message', (m) => {
    if (m === 'mark') mark = process.cpuUsage();
    process.send!(process.cpuUsage(mark));
  });
} else {
  const { values: a } = parseArgs({
    options: {
      link: { type: 'string', default: 'radius,diameter' },
      count: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '20' },
    },
  });
  const links = a.link.split(',') as Link[];
  const count = Number(a.count);
  const concurrency = Number(a.concurrency);
  const rounds = Number(a.rounds);

  const ask = (child: ReturnType<typeof fork>, m: string): Promise<Cpu> =>
    new Promise((ok) => {
      child.once('message', (r) => ok(r as Cpu));
      child.send(m);
    });

  interface Setup {
    link: Link;
    child: ReturnType<typeof fork>;
    auc: AucService;
    close: () => Promise<void>;
  }
  async function setUp(link: Link): Promise<Setup> {
    const child = fork(import.meta.filename, ['--server', link], { execArgv: ['--import', 'tsx'] });
    const ports = await new Promise<Record<string, number>>((ok) => child.once('message', (m) => ok(m as Record<string, number>)));
    if (link === 'radius') {
      const c = new RadiusAucClient({ secret: SECRET, servers: [{ host: '127.0.0.1', authPort: ports.auth!, acctPort: ports.acct! }], timeoutMs: 666, totalTimeoutMs: 2000 });
      return { link, child, auc: boundedAuc(c, 2000, 0), close: () => c.close() };
    }
    const c = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port: ports.port! }], originHost: 'ss.bench', originRealm: 'bench', destinationRealm: 'bench' });
    if (!(await c.ready(5000))) throw new Error('Diameter peer did not open');
    return { link, child, auc: boundedAuc(c, 2000, 0), close: () => c.close() };
  }

  const req = { idc: 'user1@lab.example', username: 'user1', realm: 'lab.example', algorithm: 'MD5' as const };
  const report = { idc: 'user1@lab.example', idsp: 'sbc.lab.example', ipc: '127.0.0.1', protocol: 'sip', contact: 'sip:user1@127.0.0.1:5070', mechanism: '', expiresAt: 1_900_000_000_000 };

  async function round(s: Setup): Promise<{ client: Cpu; server: Cpu }> {
    let started = 0;
    await ask(s.child, 'mark');
    const t0 = process.cpuUsage();
    const worker = async (): Promise<void> => {
      while (started < count) {
        started++;
        const r = await s.auc.digest(req);
        if (!r.ok || r.ha1.length !== 32) throw new Error('bad answer');
        await s.auc.registered(report);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const client = process.cpuUsage(t0);
    const server = await ask(s.child, 'read');
    return { client, server };
  }

  const setups: Setup[] = [];
  for (const l of links) setups.push(await setUp(l));
  const per = new Map<Link, { client: number[]; server: number[]; clientSys: number[]; serverSys: number[] }>();
  for (const s of setups) per.set(s.link, { client: [], server: [], clientSys: [], serverSys: [] });
  for (let r = 0; r <= rounds; r++) {
    for (const s of setups) {
      const { client, server } = await round(s);
      if (r === 0) continue;
      const p = per.get(s.link)!;
      p.client.push((client.user + client.system) / count);
      p.server.push((server.user + server.system) / count);
      p.clientSys.push(client.system / count);
      p.serverSys.push(server.system / count);
    }
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  console.log(`AuC link per Digest registration (digest() + registered()), ${count} a round, ${concurrency} in flight, median of ${rounds} rounds, µs CPU (of which system)`);
  for (const [link, p] of per) {
    console.log(
      `${link.padEnd(9)} softswitch side ${med(p.client).toFixed(1)} (${med(p.clientSys).toFixed(1)})   AuC side ${med(p.server).toFixed(1)} (${med(p.serverSys).toFixed(1)})   rounds: ${p.client.map((x) => x.toFixed(1)).join('/')} | ${p.server.map((x) => x.toFixed(1)).join('/')}`,
    );
  }
  for (const s of setups) {
    await s.close();
    s.child.kill();
  }
}
