/**
 * A lab of hosts, each a network namespace on one bridge, for the scale-out
 * tests and `npm run bench:scale-out` (docs/scale-out.md): the AuC, Redis
 * (Debian's redis-server, started here), SBC and softswitch instances and
 * terminal hosts, each role the compiled keyswitch run with `ip netns exec`,
 * PostgreSQL the CI server reached at 10.77.0.5:5432 through a forwarder (in
 * a schema of this lab's own). No vitest here: the bench uses it too.
 *
 * Names carry this process's pid and a counter, so parallel runs do not
 * collide; namespaces of a run whose process is gone are swept on open.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BIN } from '../helpers/cli.js';
import { redisEnv } from '../helpers/redis-env.js';

export const NET = '10.77.0';
/** Fixed host numbers; terminal hosts t1, t2, … are 101, 102, …. */
const HOST_NUMBER: Record<string, number> = { pg: 5, auc: 10, redis: 15, 'ss-a': 21, 'ss-b': 22, 'sbc-a': 31, 'sbc-b': 32, vip: 40 };
export const IDSP = 'sbc1.lab.example';
export const REALM = 'lab.example';
const ORIGIN = 'ss.lab.example';
const PREFIX = 'kso';

/** `node -e FORWARD <unix PATH | tcp HOST PORT> <unix PATH | tcp HOST PORT>`: listens on the first, connects each client to the second. */
const FORWARD = `const n=require('node:net');const a=process.argv.slice(1);const at=(i)=>a[i]==='unix'?[a[i+1]]:[Number(a[i+2]),a[i+1]];
const to=at(a[0]==='unix'?2:3);const s=n.createServer((c)=>{const u=n.connect(...to);c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())});
a[0]==='unix'?s.listen(a[1],()=>console.log('ready')):s.listen(Number(a[2]),a[1],()=>console.log('ready'));`;

/** Why the lab cannot run here, or undefined. */
export async function labUnavailable(pgUrl: string, o: { redis?: boolean } = {}): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need it)';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'no `ip netns` (iproute2)';
  if (o.redis && spawnSync('redis-server', ['--version'], { env: redisEnv(), timeout: 10_000 }).status !== 0) return 'no redis-server (Debian package redis-server)';
  const c = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return undefined;
  } catch (err) {
    return `PostgreSQL unreachable: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface LabOptions {
  pgUrl: string;
  /** Hosts besides pg: any of auc, redis, ss-a, ss-b, sbc-a, sbc-b, t1…t9. */
  hosts: string[];
  /** Role log level (default warn; KEYSWITCH_LAB_LOG_LEVEL overrides). */
  logLevel?: string;
  /**
   * For tests on a machine busy with other tests: the SBC's overload gate does not refuse on event-loop lag
   * or the core's delay, and a Redis command may take 2 s before it counts as Redis unavailable. What the
   * tests look at is instances lost and Redis stopped, not a loaded machine.
   */
  relaxed?: boolean;
}

export interface Proc {
  name: string;
  host: string;
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export interface TermEvents {
  list: Record<string, unknown>[];
  done: Promise<number | null>;
  err(): string;
  /** Resolves with the first event named `name` (or rejects after timeoutMs). */
  next(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  proc: ChildProcess;
}

let labs = 0;

export class Lab {
  readonly dir: string;
  readonly tag: string;
  readonly schema: string;
  readonly masterKey = randomBytes(32).toString('hex');
  readonly coreLinkKey = randomBytes(32).toString('hex');
  readonly sbcKey = randomBytes(32).toString('hex');
  readonly procs = new Map<string, Proc>();
  readonly #forwarders: ChildProcess[] = [];
  #pgFront: ChildProcess | undefined;
  readonly #hosts: string[];
  #balanced: string[] = [];
  readonly #trace: string[] = [];
  #closed = false;

  private constructor(private readonly o: LabOptions) {
    this.tag = `${PREFIX}${process.pid}x${labs++}`;
    this.dir = mkdtempSync(join(tmpdir(), 'ks-scale-out-'));
    this.schema = `so_${randomBytes(5).toString('hex')}`;
    this.#hosts = ['sw', 'pg', ...o.hosts];
    mkdirSync(join(this.dir, 'logs'));
  }

  /** Makes the hosts, the bridge, the PostgreSQL schema and its forwarder; cleans up itself when that fails. */
  static async open(o: LabOptions): Promise<Lab> {
    sweepStale();
    const lab = new Lab(o);
    process.once('exit', () => lab.#closeSync());
    try {
      await lab.#build();
      return lab;
    } catch (err) {
      await lab.close();
      throw err;
    }
  }

  ns(host: string): string {
    return `${this.tag}-${host}`;
  }

  addr(host: string): string {
    const t = /^t(\d)$/.exec(host);
    const n = t ? 100 + Number(t[1]) : HOST_NUMBER[host];
    if (n === undefined) throw new Error(`lab: unknown host ${host}`);
    return `${NET}.${n}`;
  }

  get dbUrl(): string {
    const u = new URL(this.o.pgUrl);
    return `postgres://${u.username}:${u.password}@${this.addr('pg')}:5432${u.pathname}?options=-c%20search_path%3D${this.schema}`;
  }

  get redisUrl(): string {
    return `redis://${this.addr('redis')}:6379`;
  }

  async #build(): Promise<void> {
    for (const h of this.#hosts) {
      ip('netns', 'add', this.ns(h));
      ip('-n', this.ns(h), 'link', 'set', 'lo', 'up');
    }
    ip('-n', this.ns('sw'), 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.ns('sw'), 'link', 'set', 'br0', 'up');
    this.#hosts.slice(1).forEach((h, i) => {
      const a = `${this.tag.slice(PREFIX.length - 1)}v${i}`.slice(-13);
      const b = `${a}p`;
      ip('link', 'add', a, 'netns', this.ns(h), 'type', 'veth', 'peer', 'name', b, 'netns', this.ns('sw'));
      ip('-n', this.ns(h), 'addr', 'add', `${this.addr(h)}/24`, 'dev', a);
      ip('-n', this.ns(h), 'link', 'set', a, 'up');
      ip('-n', this.ns('sw'), 'link', 'set', b, 'master', 'br0');
      ip('-n', this.ns('sw'), 'link', 'set', b, 'up');
    });
    const admin = new pg.Client({ connectionString: this.o.pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${this.schema}`);
    await admin.end();
    // pg:5432 in its host forwards over a Unix socket (namespaces share the file system) to a forwarder here, to the server
    const u = new URL(this.o.pgUrl);
    const sock = join(this.dir, 'pg.sock');
    await this.#forwarder([process.execPath, '-e', FORWARD, 'unix', sock, 'tcp', u.hostname, u.port || '5432']);
    await this.pgUp();
    writeFileSync(join(this.dir, 'sbc.key'), this.sbcKey + '\n', { mode: 0o600 });
  }

  /** PostgreSQL at pg:5432 again (after `pgDown`): new connections are served. */
  async pgUp(): Promise<void> {
    this.#pgFront = await this.#forwarder(['ip', 'netns', 'exec', this.ns('pg'), process.execPath, '-e', FORWARD, 'tcp', this.addr('pg'), '5432', 'unix', join(this.dir, 'pg.sock')]);
  }

  /** PostgreSQL gone from the roles' point of view, as in a restart: every connection cut, new ones refused. */
  async pgDown(): Promise<void> {
    const p = this.#pgFront;
    if (!p) return;
    this.#pgFront = undefined;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  #forwarder(args: string[]): Promise<ChildProcess> {
    const p = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    this.#forwarders.push(p);
    return new Promise<ChildProcess>((resolve, reject) => {
      p.stdout!.once('data', () => resolve(p));
      p.once('exit', (c) => reject(new Error(`forwarder ${args.join(' ')} exited ${c}`)));
    });
  }

  /** Settings every role of the lab shares: the database, master key, core-link key, Redis when the lab has it. */
  commonEnv(name: string): NodeJS.ProcessEnv {
    const dataDir = join(this.dir, `data-${name}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return {
      KEYSWITCH_DATA_DIR: dataDir,
      KEYSWITCH_DB_URL: this.dbUrl,
      KEYSWITCH_MASTER_KEY: this.masterKey,
      KEYSWITCH_CORE_LINK_KEY: this.coreLinkKey,
      KEYSWITCH_LOG_LEVEL: process.env.KEYSWITCH_LAB_LOG_LEVEL ?? this.o.logLevel ?? 'warn',
      KEYSWITCH_DIAMETER_TLS: 'off',
      ...(this.#hosts.includes('redis') ? { KEYSWITCH_REDIS_URL: this.redisUrl } : {}),
      ...(this.o.relaxed ? { KEYSWITCH_OVERLOAD_SBC_LAG_MS: '0', KEYSWITCH_OVERLOAD_SBC_CORE_DELAY_MS: '0', KEYSWITCH_REDIS_COMMAND_TIMEOUT_MS: '2000' } : {}),
    };
  }

  /** The environment of a role in a host: `auc`, `ss-a`/`ss-b` (softswitch), `sbc-a`/`sbc-b` (SBC, its softswitch given). */
  roleEnv(host: string, o: { softswitch?: string } = {}): NodeJS.ProcessEnv {
    const env = this.commonEnv(host);
    const softswitches = this.#hosts.filter((h) => h.startsWith('ss-'));
    const sbcs = this.#hosts.filter((h) => h.startsWith('sbc-'));
    if (host === 'auc') {
      return {
        ...env,
        KEYSWITCH_DIAMETER_HOST: this.addr('auc'),
        KEYSWITCH_DIAMETER_PEERS: softswitches.map((s) => `${ORIGIN}@${this.addr(s)}`).join(','),
        KEYSWITCH_RADIUS_HOST: this.addr('auc'),
        KEYSWITCH_RADIUS_CLIENTS: softswitches.map((s) => `${this.addr(s)}/32`).join(','),
      };
    }
    if (host.startsWith('ss-')) {
      return {
        ...env,
        KEYSWITCH_SOFTSWITCH_HOST: this.addr(host),
        // the other instances: their Record-Route entries are this one's too (an SBC sends their dialogs here when they die)
        KEYSWITCH_SOFTSWITCH_PEERS: softswitches.filter((s) => s !== host).map((s) => `${this.addr(s)}:5070`).join(','),
        KEYSWITCH_TRUSTED_SBCS: sbcs.map((s) => `${this.addr(s)}/32`).join(','),
        KEYSWITCH_AUC_PROTOCOL: 'diameter',
        KEYSWITCH_AUC_PEERS: `${this.addr('auc')}:5658`,
        KEYSWITCH_SOFTSWITCH_ORIGIN_HOST: ORIGIN,
        // the SBC instances' core addresses: one that answers nothing, the next (docs/scale-out.md, "Losing an SBC instance")
        ...(sbcs.length > 1 ? { KEYSWITCH_SOFTSWITCH_SBC_POOL: sbcs.map((s) => `${this.addr(s)}:5080`).join(',') } : {}),
      };
    }
    if (host.startsWith('sbc-')) {
      const ss = this.addr(o.softswitch ?? softswitches[0]!);
      return {
        ...env,
        KEYSWITCH_SBC_IDSP: IDSP,
        KEYSWITCH_SBC_KEY: this.sbcKey,
        KEYSWITCH_SBC_HOST: '0.0.0.0',
        // behind the pool's one address (a balancer in the lab) the instances write that address for terminals
        KEYSWITCH_SBC_ADVERTISE: this.#hosts.includes('vip') ? this.addr('vip') : this.addr(host),
        KEYSWITCH_SBC_CORE_ADDRESS: `${this.addr(host)}:5080`,
        // every softswitch, its own first (the one given, else the first host), in failover order
        KEYSWITCH_SBC_SOFTSWITCH: [ss, ...softswitches.map((s) => this.addr(s)).filter((a) => a !== ss)].map((a) => `${a}:5070`).join(','),
        // the gateway relays: the same instances in the same order, each at its MGCP/H.248/H.323 port
        KEYSWITCH_SBC_SOFTSWITCH_MGCP: [ss, ...softswitches.map((s) => this.addr(s)).filter((a) => a !== ss)].map((a) => `${a}:12727`).join(','),
        KEYSWITCH_SBC_SOFTSWITCH_H248: [ss, ...softswitches.map((s) => this.addr(s)).filter((a) => a !== ss)].map((a) => `${a}:12944`).join(','),
        KEYSWITCH_SBC_SOFTSWITCH_H323: [ss, ...softswitches.map((s) => this.addr(s)).filter((a) => a !== ss)].map((a) => `${a}:11719`).join(','),
        KEYSWITCH_SBC_POOL_CERT: join(this.dir, 'pool', 'pool-cert.pem'),
        KEYSWITCH_SBC_POOL_KEY: join(this.dir, 'pool', 'pool-key.pem'),
        // the other instances, terminal side and core side (a route set names the instance that recorded it)
        KEYSWITCH_SBC_ALIASES: [
          ...sbcs.filter((s) => s !== host).flatMap((s) => [`${this.addr(s)}:5060`, `${this.addr(s)}:5080`]),
          ...(this.#hosts.includes('vip') ? [`${this.addr(host)}:5060`] : []),
        ].join(','),
      };
    }
    throw new Error(`lab: no role for host ${host}`);
  }

  /** `keyswitch <args>` in a host, to the end (provisioning, pool init). */
  run(host: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.ns(host), process.execPath, BIN, ...args], { env: { ...process.env, ...env }, input, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Provisions the SBC pool's Ksp at the AuC and makes the pool certificate: once, before any SBC starts. */
  provisionPool(): void {
    const env = this.roleEnv('auc');
    must(this.run('auc', ['provision', 'proxy', IDSP, '--key-file', join(this.dir, 'sbc.key')], env), 'provision proxy');
    must(this.run('auc', ['pool', 'init', '--out', join(this.dir, 'pool')], env), 'pool init');
  }

  /** A terminal provisioned at the AuC; its key. */
  provisionTerminal(idc: string): string {
    const r = must(this.run('auc', ['provision', 'terminal', idc, '--json'], this.roleEnv('auc')), `provision terminal ${idc}`);
    return (JSON.parse(r.stdout) as { key: string }).key;
  }

  /** `count` terminals load<i>@lab.example; the CSV idc,key the terminal's --keys-file reads. */
  provisionMany(count: number, prefix = 'load'): string {
    const csv = join(this.dir, `${prefix}.csv`);
    const keys = join(this.dir, `${prefix}-keys.csv`);
    writeFileSync(csv, 'idc,key,sip_password\n' + Array.from({ length: count }, (_, i) => `${prefix}${i}@${REALM},,\n`).join(''));
    must(this.run('auc', ['provision', 'import', csv, '--keys-out', keys], this.roleEnv('auc')), 'provision import');
    return keys;
  }

  /**
   * Starts `args` (a keyswitch command; the role by default) in a host and waits for `ready` in its output.
   * Output goes to logs/<name>.log and is kept for `logs()`. `cpu`: pinned to that core (taskset).
   */
  async start(name: string, host: string, o: { args?: string[]; env?: NodeJS.ProcessEnv; ready?: RegExp; cpu?: number; softswitch?: string } = {}): Promise<Proc> {
    const role = host === 'auc' ? 'auc' : host.startsWith('ss-') ? 'softswitch' : 'sbc';
    const args = o.args ?? [role];
    const env = { ...process.env, ...this.roleEnv(host, { softswitch: o.softswitch }), ...o.env };
    const pin = o.cpu === undefined ? [] : ['taskset', '-c', String(o.cpu)];
    const p = this.#spawn(name, host, [...pin, process.execPath, BIN, ...args], env);
    await this.waitFor(p, o.ready ?? /keyswitch is up/, 60_000);
    return p;
  }

  #spawn(name: string, host: string, cmd: string[], env: NodeJS.ProcessEnv, stdin: 'ignore' | 'pipe' = 'ignore'): Proc {
    const log = join(this.dir, 'logs', `${name}.log`);
    const proc = spawn('ip', ['netns', 'exec', this.ns(host), ...cmd], { env, stdio: [stdin, 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-40_000);
      appendFileSync(log, d);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (c, s) => resolve(c ?? (s ? -1 : null))));
    const p: Proc = { name, host, proc, output: () => out, exited };
    this.procs.set(name, p);
    return p;
  }

  /** Resolves when `re` appears in p's output; rejects when it exits first or after timeoutMs. */
  async waitFor(p: Proc, re: RegExp, timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    while (!re.test(p.output())) {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`${p.name} exited (${p.proc.exitCode ?? p.proc.signalCode}) before ${re}:\n${p.output().slice(-4000)}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`${p.name}: no ${re} in ${timeoutMs} ms:\n${p.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Debian's redis-server on the redis host (no persistence: the lab's Redis holds volatile state only). */
  async startRedis(): Promise<Proc> {
    const rdir = join(this.dir, 'redis');
    mkdirSync(rdir, { recursive: true });
    const args = ['redis-server', '--bind', this.addr('redis'), '--port', '6379', '--dir', rdir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no'];
    const p = this.#spawn('redis', 'redis', args, redisEnv());
    await this.waitFor(p, /Ready to accept connections/, 20_000);
    return p;
  }

  /**
   * The pool's one address, vip:5060 (UDP), in front of these SBC hosts (test/scale-out/balancer.mjs):
   * flows sticky to an instance until told otherwise with `balance()`.
   */
  async startBalancer(sbcs: string[]): Promise<Proc> {
    const script = join(import.meta.dirname, 'balancer.mjs');
    const p = this.#spawn('balancer', 'vip', [process.execPath, script, this.addr('vip'), '5060', ...sbcs.map((h) => `${this.addr(h)}:5060`)], process.env, 'pipe');
    let rest = '';
    p.proc.stdout!.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      this.#trace.push(...lines.filter((l) => /^[<>] \[\d+\]/.test(l)));
    });
    await this.waitFor(p, /balancer ready/, 20_000);
    this.#balanced = sbcs;
    return p;
  }

  /** The balancer's trace lines (`balance('trace on')`) from `mark` (a length of it taken before). */
  trace(mark = 0): string[] {
    return this.#trace.slice(mark);
  }

  /**
   * `sticky`, `flow`, `alternate`, `trace on|off`, an SBC host `down`/`up` (its health check failing or
   * passing again), or `pin <terminal host> <SBC host>` (sticky: that host's terminals on that instance).
   */
  async balance(cmd: 'sticky' | 'flow' | 'alternate' | 'trace on' | 'trace off' | `${'down' | 'up'} sbc-${string}` | `pin t${number} sbc-${string}`): Promise<void> {
    const p = this.procs.get('balancer');
    if (!p) throw new Error('lab: no balancer');
    const [verb, arg, to] = cmd.split(' ');
    const line = verb === 'down' || verb === 'up' ? `${verb} ${this.#balanced.indexOf(arg!)}` : verb === 'pin' ? `pin ${this.addr(arg!)} ${this.#balanced.indexOf(to!)}` : cmd;
    const before = p.output().length;
    p.proc.stdin!.write(line + '\n');
    const t0 = Date.now();
    while (!p.output().slice(before).includes(`ok ${line}\n`)) {
      if (p.output().slice(before).includes(`error ${line}`) || Date.now() - t0 > 5000) throw new Error(`balancer: ${line}: ${p.output().slice(before)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** `redis-cli` against the lab's Redis, from its host. */
  redisCli(...args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', this.ns('redis'), 'redis-cli', '-h', this.addr('redis'), ...args], { encoding: 'utf8', timeout: 20_000, env: redisEnv() });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** SIGKILL: no clean-up, no de-registration, as a host that dies. */
  async kill9(name: string): Promise<void> {
    const p = this.procs.get(name);
    if (!p) throw new Error(`lab: no process ${name}`);
    p.proc.kill('SIGKILL');
    await p.exited;
    this.procs.delete(name);
  }

  /** SIGTERM and wait; the exit code. */
  async stop(name: string): Promise<number | null> {
    const p = this.procs.get(name);
    if (!p) return null;
    this.procs.delete(name);
    if (p.proc.exitCode !== null) return p.proc.exitCode;
    p.proc.kill('SIGTERM');
    return p.exited;
  }

  /** A terminal command (`keyswitch terminal <sub> ...`) in a terminal host; its JSON lines as events. */
  terminal(host: string, sub: string, args: string[], key?: string): TermEvents {
    const p = spawn('ip', ['netns', 'exec', this.ns(host), process.execPath, BIN, 'terminal', sub, ...args, ...(key ? ['--key-stdin'] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
    p.stdin!.end(key ? key + '\n' : '');
    const list: Record<string, unknown>[] = [];
    const waiters: Array<() => void> = [];
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
      for (const w of waiters.splice(0)) w();
    });
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    const next = async (name: string, timeoutMs = 20_000) => {
      const t0 = Date.now();
      for (;;) {
        const e = list.find((x) => x.event === name);
        if (e) return e;
        if (p.exitCode !== null || Date.now() - t0 > timeoutMs) throw new Error(`terminal ${sub}: no '${name}' event; got ${JSON.stringify(list)} ${err}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    };
    return { list, done, err: () => err, next, proc: p };
  }

  /** The tail of every process's output, for a failure message. */
  logs(): string {
    return [...this.procs.values()].map((p) => `\n--- ${p.name} (${p.host}):\n${p.output().slice(-3000)}`).join('') + `\n(full logs in ${join(this.dir, 'logs')} until the lab closes)`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const name of [...this.procs.keys()].reverse()) {
      const p = this.procs.get(name)!;
      const t = setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
      await this.stop(name);
      clearTimeout(t);
    }
    const admin = new pg.Client({ connectionString: this.o.pgUrl });
    await admin.connect().then(() => admin.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`)).catch(() => undefined);
    await admin.end().catch(() => undefined);
    this.#closeSync();
  }

  #closeSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.procs.values()) p.proc.kill('SIGKILL');
    for (const f of this.#forwarders) f.kill('SIGKILL');
    for (const h of this.#hosts) spawnSync('ip', ['netns', 'del', this.ns(h)]);
    if (process.env.KEYSWITCH_LAB_KEEP !== '1') rmSync(this.dir, { recursive: true, force: true });
  }
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function must<T extends { code: number | null; stdout: string; stderr: string }>(r: T, what: string): T {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

/** Deletes the namespaces of labs whose process no longer runs (a run killed before its clean-up). */
function sweepStale(): void {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)x\\d+-\\S+)`).exec(line);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      alive = false;
    }
    if (!alive) spawnSync('ip', ['netns', 'del', m[1]!]);
  }
}
