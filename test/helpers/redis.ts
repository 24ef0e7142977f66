import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { freePorts } from './ports.js';
import { redisEnv } from './redis-env.js';

export { redisEnv } from './redis-env.js';

/**
 * A private redis-server per test file: its own ephemeral port and temp dir,
 * no persistence. Suites that need Redis use `describeRedis`; without
 * `redis-server` on the machine they are skipped and that is said once per file,
 * unless KEYSWITCH_TEST_REQUIRE_REDIS=1 (CI) makes it an error.
 */
export const REDIS_SERVER = process.env.KEYSWITCH_TEST_REDIS_SERVER ?? 'redis-server';

function redisProblemNow(): string | undefined {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8', env: redisEnv(), timeout: 10_000 });
  if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${REDIS_SERVER} not found (apt-get install redis-server)` : `${REDIS_SERVER} --version: ${r.error.message}`;
  if (r.status !== 0) return `${REDIS_SERVER} --version exited ${r.status}`;
  return undefined;
}

export const redisProblem = redisProblemNow();
if (redisProblem && process.env.KEYSWITCH_TEST_REQUIRE_REDIS === '1') {
  throw new Error(`KEYSWITCH_TEST_REQUIRE_REDIS=1 but ${redisProblem}`);
}
if (redisProblem) console.warn(`[keyswitch tests] ${redisProblem}: Redis suites SKIPPED`);

/** Like describe, skipped (and said so above) when there is no redis-server. */
export const describeRedis: typeof describe = (redisProblem ? describe.skip : describe) as typeof describe;

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
  /** kill -9. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing was persisted). */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

async function waitReady(child: ChildProcess, port: number, ready = 'Ready to accept connections'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server on ${port} not ready in 10 s: ${out.slice(-500)}`)), 10_000);
    const onData = (b: Buffer): void => {
      out += b.toString();
      if (out.includes(ready)) {
        clearTimeout(t);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server on ${port} exited ${code}: ${out.slice(-500)}`));
    });
  });
}

function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a redis-server bound to `host` (127.0.0.1) on a free port. */
export async function startRedis(o: { host?: string; port?: number; args?: string[] } = {}): Promise<TestRedis> {
  const host = o.host ?? '127.0.0.1';
  const [port] = o.port ? [o.port] : await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'ks-redis-'));
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no', '--loglevel', 'notice', ...(o.args ?? [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: redisEnv(),
    });
    await waitReady(child, port!);
  };
  await launch();
  const r: TestRedis = {
    port: port!,
    url: `redis://${host}:${port}`,
    async stop() {
      child?.kill('SIGTERM');
      await exited(child);
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited(child);
    },
    async start() {
      await launch();
    },
    async close() {
      await r.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return r;
}

/**
 * One Redis Sentinel watching `primary` (127.0.0.1:port) as `name`, quorum 1,
 * down after `downAfterMs`: for tests of a failover to a replica.
 */
export async function startSentinel(o: { primaryPort: number; name?: string; downAfterMs?: number }): Promise<{ port: number; close(): Promise<void> }> {
  const [port] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'ks-sentinel-'));
  const name = o.name ?? 'keyswitch';
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${o.primaryPort} 1`,
    `sentinel down-after-milliseconds ${name} ${o.downAfterMs ?? 500}`,
    `sentinel failover-timeout ${name} 5000`,
    '',
  ].join('\n'));
  const child = spawn(REDIS_SERVER, [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'inherit'], env: redisEnv() });
  await waitReady(child, port!, '+monitor master');
  return {
    port: port!,
    async close() {
      child.kill('SIGKILL');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
