import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { PG_URL } from '../helpers/engines.js';

/**
 * docker-compose.yml's lab without Docker: each role a host of its own, in a
 * network namespace with its compose address, linked by veth pairs to bridges
 * (core and edge) in a switch namespace. Each role runs with the environment
 * compose gives it, secrets made by the setup comment at the top of the file
 * (its `$` lines run as written; `docker compose ...` lines are done by the lab),
 * and checked with the compose healthcheck. PostgreSQL is reached at
 * `postgres:5432` (172.28.0.5) through a forwarder to the CI server.
 * A terminal in a fourth namespace registers and calls through the SBC's public
 * address; each role is stopped and restarted, and calls work again.
 */
const ROOT = join(import.meta.dirname, '..', '..');
/** `node -e FORWARD <unix PATH | tcp HOST PORT> <unix PATH | tcp HOST PORT>`: listens on the first, connects each client to the second. */
const FORWARD = `const n=require('node:net');const a=process.argv.slice(1);const at=(i)=>a[i]==='unix'?[a[i+1]]:[Number(a[i+2]),a[i+1]];
const to=at(a[0]==='unix'?2:3);const s=n.createServer((c)=>{const u=n.connect(...to);c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())});
a[0]==='unix'?s.listen(a[1],()=>console.log('ready')):s.listen(Number(a[2]),a[1],()=>console.log('ready'));`;
const COMPOSE = join(ROOT, 'docker-compose.yml');

function why(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'no `ip netns` (iproute2)';
  if (spawnSync('openssl', ['version']).status !== 0) return 'no openssl (the setup comment uses it)';
  return undefined;
}
async function pgProblem(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return undefined;
  } catch (err) {
    return `PostgreSQL unreachable: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}
const skip = why() ?? (await pgProblem());
if (skip && process.env.KEYSWITCH_TEST_REQUIRE_PG === '1' && skip.startsWith('PostgreSQL')) throw new Error(skip);
if (skip) console.warn(`[keyswitch tests] netns lab SKIPPED: ${skip}`);

interface Service {
  environment?: Record<string, string>;
  secrets?: string[];
  networks?: Record<string, { ipv4_address?: string } | null>;
  healthcheck?: { test: string[] };
  command?: string[];
  depends_on?: Record<string, unknown>;
}

describe.skipIf(skip !== undefined)('the compose lab, each role a host in its own network namespace', () => {
  const tag = `k${(process.pid % 10000).toString().padStart(4, '0')}`;
  const ns = (h: string) => `${tag}-${h}`;
  const HOSTS = ['sw', 'pg', 'auc', 'ss', 'sbc', 'term'];
  const NS_OF: Record<string, string> = { postgres: 'pg', auc: 'auc', softswitch: 'ss', sbc: 'sbc' };
  const dir = mkdtempSync(join(tmpdir(), 'ks-lab-'));
  const schema = `lab_${randomBytes(5).toString('hex')}`;
  const procs = new Map<string, ChildProcess>();
  const outputs = new Map<string, string>();
  let compose: { services: Record<string, Service> };
  let dotenv: Record<string, string> = {};
  const forwarders: ChildProcess[] = [];
  const keys: Record<string, string> = {};
  let sbcPublic = '';

  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  /** A veth from host namespace `h` (address `addr`/24) to bridge `br` in the switch namespace. */
  const link = (h: string, br: string, addr: string, n: number) => {
    const a = `${tag}${h}${n}`;
    const b = `${tag}${h}${n}p`;
    ip('link', 'add', a, 'netns', ns(h), 'type', 'veth', 'peer', 'name', b, 'netns', ns('sw'));
    ip('-n', ns(h), 'addr', 'add', `${addr}/24`, 'dev', a);
    ip('-n', ns(h), 'link', 'set', a, 'up');
    ip('-n', ns('sw'), 'link', 'set', b, 'master', br);
    ip('-n', ns('sw'), 'link', 'set', b, 'up');
  };

  /** A role's environment as compose gives it: ${VAR:?...} from .env, /run/secrets/x the setup's secrets/x, its own data directory. */
  const envOf = (service: string): NodeJS.ProcessEnv => {
    const s = compose.services[service]!;
    const env: NodeJS.ProcessEnv = {};
    for (const [k, raw] of Object.entries(s.environment ?? {})) {
      let v = String(raw).replace(/\$\{([A-Z0-9_]+)(?::\?[^}]*)?\}/g, (_, name: string) => {
        if (!(name in dotenv)) throw new Error(`${service}: ${name} is not in .env`);
        return dotenv[name]!;
      });
      const secret = /^\/run\/secrets\/(.+)$/.exec(v);
      if (secret) {
        expect(s.secrets, `${service} reads secret ${secret[1]} it is not given`).toContain(secret[1]);
        v = join(dir, 'secrets', secret[1]!);
      }
      env[k] = v;
    }
    // the image's ENV KEYSWITCH_DATA_DIR=/var/lib/keyswitch, on the service's own volume
    env.KEYSWITCH_DATA_DIR = join(dir, `data-${service}`);
    env.KEYSWITCH_LOG_LEVEL = process.env.KEYSWITCH_LAB_LOG_LEVEL ?? 'warn';
    return env;
  };
  const inNs = (h: string, args: string[]) => ['netns', 'exec', ns(h), ...args];
  /** `docker compose run --rm <service> <args>`: the image's entrypoint with those arguments in that host. */
  const run = (service: string, args: string[], input?: string) => {
    const mapped = args.map((a) => a.replace(/^\/run\/secrets\//, join(dir, 'secrets') + '/'));
    const r = spawnSync('ip', inNs(NS_OF[service]!, [process.execPath, BIN, ...mapped]), { env: { ...process.env, ...envOf(service) }, input, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const healthy = (service: string) => {
    const [kind, ...cmd] = compose.services[service]!.healthcheck!.test;
    expect(kind).toBe('CMD');
    const r = spawnSync('ip', inNs(NS_OF[service]!, cmd.map((w) => (w === 'node' ? process.execPath : w))), { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    return r.status === 0;
  };
  const waitHealthy = async (service: string) => {
    for (let i = 0; i < 120; i++) {
      if (healthy(service)) return;
      const p = procs.get(service);
      if (p && p.exitCode !== null) throw new Error(`${service} exited ${p.exitCode}:\n${outputs.get(service)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${service} not healthy in 60 s:\n${outputs.get(service)}`);
  };
  /** `docker compose up -d <service>`: its command in its host, then wait for its healthcheck. */
  const up = async (service: string) => {
    const cmd = compose.services[service]!.command!;
    const p = spawn('ip', inNs(NS_OF[service]!, [process.execPath, BIN, ...cmd]), { env: { ...process.env, ...envOf(service) }, stdio: ['ignore', 'pipe', 'pipe'] });
    outputs.set(service, '');
    const keep = (d: Buffer) => outputs.set(service, (outputs.get(service)! + d.toString()).slice(-20_000));
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    procs.set(service, p);
    await waitHealthy(service);
  };
  const stop = async (service: string) => {
    const p = procs.get(service)!;
    procs.delete(service);
    if (p.exitCode !== null) return p.exitCode;
    return new Promise<number | null>((resolve) => {
      p.once('exit', (code) => resolve(code));
      p.kill('SIGTERM');
    });
  };

  const logs = () => [...outputs].map(([s, o]) => `\n--- ${s}:\n${o.slice(-3000)}`).join('');
  /** bob answers one call, alice calls him, both through the SBC's public address from the terminal host. */
  const callOnce = async () => {
    const sbc = `${sbcPublic}:5060`;
    const term = (args: string[], key: string) => {
      const p = spawn('ip', inNs('term', [process.execPath, BIN, 'terminal', ...args, '--key-stdin', '--sbc', sbc]), { stdio: ['pipe', 'pipe', 'pipe'] });
      p.stdin!.end(key + '\n');
      return p;
    };
    const events = (p: ChildProcess) => {
      const list: Record<string, unknown>[] = [];
      let buf = '';
      let err = '';
      p.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim().startsWith('{')) list.push(JSON.parse(line) as Record<string, unknown>);
        }
      });
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const done = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
      return { list, done, err: () => err };
    };
    const bob = term(['answer', '--id', 'bob@lab.example', '--calls', '1', '--timeout', '40'], keys.bob!);
    const be = events(bob);
    for (let i = 0; i < 200 && !be.list.some((e) => e.event === 'registered' || e.event === 'failed'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(be.list.find((e) => e.event === 'registered'), JSON.stringify(be.list) + be.err() + logs()).toBeDefined();
    const alice = term(['call', '--id', 'alice@lab.example', '--to', 'bob@lab.example', '--hold', '1', '--timeout', '20'], keys.alice!);
    const ae = events(alice);
    const aliceCode = await ae.done;
    const bobCode = await be.done;
    const seen = ae.list.map((e) => e.event);
    expect(aliceCode, JSON.stringify(ae.list) + ae.err() + logs()).toBe(0);
    expect(seen).toEqual(expect.arrayContaining(['registered', 'calling', 'answered', 'bye']));
    // alice's BYE went SBC -> softswitch -> SBC core address -> bob: the SBC's core-side Record-Route is reachable
    expect(ae.list.find((e) => e.event === 'bye')).toMatchObject({ by: 'local', status: 200 });
    expect(bobCode, JSON.stringify(be.list) + be.err()).toBe(0);
    expect(be.list.map((e) => e.event)).toEqual(expect.arrayContaining(['registered', 'incoming', 'bye']));
  };

  beforeAll(async () => {
    compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as typeof compose;
    // the hosts and links
    for (const h of HOSTS) {
      ip('netns', 'add', ns(h));
      ip('-n', ns(h), 'link', 'set', 'lo', 'up');
    }
    for (const br of ['core', 'edge']) {
      ip('-n', ns('sw'), 'link', 'add', br, 'type', 'bridge');
      ip('-n', ns('sw'), 'link', 'set', br, 'up');
    }
    // the setup comment, as written, in a copy of the folder
    copyFileSync(COMPOSE, join(dir, 'docker-compose.yml'));
    const setup = readFileSync(COMPOSE, 'utf8')
      .split('\n')
      .map((l) => /^#\s+\$ (.+)$/.exec(l)?.[1])
      .filter((l): l is string => Boolean(l));
    const shell = setup.filter((l) => !l.startsWith('docker '));
    for (const line of shell) {
      const r = spawnSync('bash', ['-euc', line], { cwd: dir, encoding: 'utf8' });
      expect(r.status, `${line}\n${r.stderr}`).toBe(0);
    }
    dotenv = Object.fromEntries(readFileSync(join(dir, '.env'), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    sbcPublic = dotenv.KEYSWITCH_SBC_ADVERTISE!;
    // The lab's database is CI's server, in a schema of its own; the host is still `postgres`.
    const u = new URL(PG_URL);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    writeFileSync(join(dir, 'secrets', 'db_url'), `postgres://${u.username}:${u.password}@postgres:5432${u.pathname}?options=-c%20search_path%3D${schema}`);

    // each service's volume: the image's data directory (owned by its user, 0700)
    for (const service of Object.keys(NS_OF)) mkdirSync(join(dir, `data-${service}`), { mode: 0o700 });
    // addresses from compose; the SBC's public side on the edge bridge at the advertised address
    const addr = (service: string) => compose.services[service]!.networks!.core!.ipv4_address!;
    for (const service of Object.keys(NS_OF)) link(NS_OF[service]!, 'core', addr(service), 0);
    link('sbc', 'edge', sbcPublic, 1);
    link('term', 'edge', sbcPublic.replace(/\.\d+$/, '.100'), 0);
    // `postgres` resolves in every role's host (ip netns exec reads /etc/netns/<name>/hosts)
    for (const h of ['auc', 'ss', 'sbc']) {
      mkdirSync(`/etc/netns/${ns(h)}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns(h)}/hosts`, `127.0.0.1 localhost\n${addr('postgres')} postgres\n`);
    }
    // postgres:5432 in its host forwards over a Unix socket (namespaces share the file system) to a
    // forwarder here, in CI's namespace, to CI's server. Both are processes of their own: this one blocks in spawnSync.
    const sock = join(dir, 'pg.sock');
    const forwarder = (args: string[]) => {
      const p = spawn(args[0]!, [...args.slice(1)], { stdio: ['ignore', 'pipe', 'inherit'] });
      forwarders.push(p);
      return new Promise<void>((resolve, reject) => {
        p.stdout!.once('data', () => resolve());
        p.once('exit', (c) => reject(new Error(`forwarder ${args.join(' ')} exited ${c}`)));
      });
    };
    await forwarder([process.execPath, '-e', FORWARD, 'unix', sock, 'tcp', u.hostname, u.port || '5432']);
    await forwarder(['ip', ...inNs('pg', [process.execPath, '-e', FORWARD, 'tcp', addr('postgres'), '5432', 'unix', sock])]);

    // the rest of the setup: `docker compose run --rm auc ...` and `docker compose up -d`
    for (const line of setup.filter((l) => l.startsWith('docker '))) {
      const w = line.split(/\s+/);
      if (w[2] === 'build') continue; // the image: scripts/stage-image.mjs
      if (w[2] === 'run') {
        expect(w.slice(3, 5)).toEqual(['--rm', 'auc']);
        const r = run('auc', w.slice(5));
        expect(r.code, `${line}\n${r.stdout}${r.stderr}`).toBe(0);
      } else if (w[2] === 'up') {
        // depends_on order: postgres (the forwarder), auc, softswitch, sbc
        for (const s of ['auc', 'softswitch', 'sbc']) await up(s);
      } else throw new Error(`setup line the lab does not know: ${line}`);
    }
    for (const who of ['alice', 'bob']) {
      const r = run('auc', ['provision', 'terminal', `${who}@lab.example`, '--json']);
      expect(r.code, r.stderr).toBe(0);
      keys[who] = (JSON.parse(r.stdout) as { key: string }).key;
    }
  }, 240_000);

  afterAll(async () => {
    for (const s of [...procs.keys()]) await stop(s);
    for (const f of forwarders) f.kill('SIGTERM');
    for (const h of HOSTS) spawnSync('ip', ['netns', 'del', ns(h)]);
    for (const h of HOSTS) rmSync(`/etc/netns/${ns(h)}`, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect().then(() => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).catch(() => undefined);
    await admin.end().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('runs the setup comment: secrets as files, the SBC provisioned, an operator token', () => {
    expect(existsSync(join(dir, 'secrets', 'master_key'))).toBe(true);
    const token = run('auc', ['token', 'create', '--role', 'viewer', '--label', 'lab']);
    expect(token.code, token.stderr).toBe(0);
    // no secret went into an environment variable: only *_FILE paths
    for (const s of ['auc', 'softswitch', 'sbc']) {
      for (const [k, v] of Object.entries(compose.services[s]!.environment ?? {})) {
        if (/KEY|PSK|SECRET|DB_URL|PASSWORD/.test(k.replace(/^KEYSWITCH_/, ''))) expect(k, `${s}: ${k}=${v}`).toMatch(/_FILE$/);
      }
    }
  });

  it('a terminal host registers and calls through the SBC, softswitch and AuC hosts', async () => {
    await callOnce();
  }, 60_000);

  for (const service of ['softswitch', 'sbc', 'auc']) {
    it(`${service}: stopped, it is unhealthy; restarted, calls work again`, async () => {
      expect(await stop(service)).toBe(0);
      expect(healthy(service)).toBe(false);
      await up(service);
      await callOnce();
    }, 120_000);
  }
});
