import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { HostPort } from '../../config/kinds.js';

/**
 * The Redis that instances of the roles share (docs/scale-out.md). One
 * connection per process, pipelined by ioredis.
 *
 * Failing closed: with the offline queue off and a command timeout, a command
 * issued while Redis is down or slow fails at once with `RedisUnavailableError`
 * instead of waiting, so the request it served is answered 503 with
 * Retry-After rather than accepted on state nobody can check. ioredis keeps
 * reconnecting in the background; `available` turns true again when it is back.
 */
export interface SharedRedisOptions {
  url: string;
  sentinels?: HostPort[];
  sentinelName?: string;
  keyPrefix?: string;
  commandTimeoutMs?: number;
  /** Called on each change of availability (for a log line and a metric). */
  onAvailability?(up: boolean, why: string): void;
}

/** Seconds a client is told to wait (Retry-After) while Redis is unavailable. */
export const REDIS_RETRY_AFTER_SECONDS = 5;

/** A command that could not be served because Redis is unreachable, slow or failing over. */
export class RedisUnavailableError extends Error {
  readonly code = 'KS_REDIS_UNAVAILABLE';
  readonly retryAfterSeconds = REDIS_RETRY_AFTER_SECONDS;
  constructor(why: string) {
    super(`shared state (Redis) unavailable: ${why}`);
    this.name = 'RedisUnavailableError';
  }
}

export function isRedisUnavailable(e: unknown): e is RedisUnavailableError {
  return e instanceof RedisUnavailableError;
}

export interface SharedRedis {
  /** The ioredis client; keys given to it are prefixed with `prefix` by ioredis itself. */
  readonly redis: Redis;
  readonly prefix: string;
  /** True while connected and ready. */
  readonly available: boolean;
  /**
   * Runs one Redis operation; a connection, timeout or failover error becomes
   * `RedisUnavailableError`. Errors of the command itself (a script bug, a wrong
   * type) are rethrown as they are.
   */
  run<T>(op: (r: Redis) => Promise<T>): Promise<T>;
  /** Waits until ready or `ms` passed; true when ready. */
  ready(ms: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Errors that mean "Redis cannot be reached now", as ioredis words them. */
const UNAVAILABLE = /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|max retries per request|All sentinels are unreachable/i;

/** The URL without its password, for log lines and errors. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/**
 * Beside Sentinels, `redis.url` gives only the user, password and database:
 * `redis://[[user]:password@][host[:port]][/db]`, the host left out or ignored.
 * A bad value is an error that does not repeat it (it holds a password).
 * `rediss://` is refused: the Sentinel connections here are not TLS, and a
 * setting that asks for TLS must not quietly get none.
 */
export function sentinelCredentials(url: string): { username?: string; password?: string; db: number } {
  if (url === '') return { db: 0 };
  if (/^rediss:/i.test(url)) throw new Error('redis.url: rediss:// (TLS) is not supported with redis.sentinels');
  const m = /^redis:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?[^@/]*(?:\/(\d{1,2})?)?$/i.exec(url);
  if (!m) throw new Error('redis.url: with redis.sentinels it must be redis://[[user]:password@][host[:port]][/db] (value not shown: it may hold a password)');
  const out: { username?: string; password?: string; db: number } = { db: m[3] ? Number(m[3]) : 0 };
  try {
    if (m[1]) out.username = decodeURIComponent(m[1]);
    if (m[2]) out.password = decodeURIComponent(m[2]);
  } catch {
    throw new Error('redis.url: a bad %-escape in the user or password (value not shown)');
  }
  return out;
}

// Loaded on the first connection: most processes (the CLI, a single instance) never use Redis.
const loadRedis = (): typeof Redis => (createRequire(import.meta.url)('ioredis') as typeof import('ioredis')).Redis;

export function connectRedis(o: SharedRedisOptions): SharedRedis {
  const Redis = loadRedis();
  const prefix = o.keyPrefix ?? 'ks:';
  const base: RedisOptions = {
    keyPrefix: prefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs ?? 500,
    connectTimeout: 2000,
    // Reconnect for ever, backing off to 1 s: the roles stay up and answer 503 meanwhile.
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: true,
  };
  let redis: Redis;
  if (o.sentinels && o.sentinels.length > 0) {
    const u = sentinelCredentials(o.url ?? '');
    redis = new Redis({
      ...base,
      sentinels: o.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: o.sentinelName ?? 'keyswitch',
      ...(u.username ? { username: u.username } : {}),
      ...(u.password ? { password: u.password } : {}),
      db: u.db,
      sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
    });
  } else {
    redis = new Redis(o.url, base);
  }

  let up = false;
  const set = (v: boolean, why: string): void => {
    if (v === up) return;
    up = v;
    o.onAvailability?.(v, why);
  };
  redis.on('ready', () => set(true, 'ready'));
  redis.on('close', () => set(false, 'connection closed'));
  redis.on('end', () => set(false, 'connection ended'));
  // Without a listener ioredis prints each reconnection error; availability says it once.
  redis.on('error', (e: Error) => set(false, e.message.split('\n')[0] ?? 'error'));
  redis.connect().catch(() => {
    /* retried by retryStrategy; `available` stays false meanwhile */
  });

  return {
    redis,
    prefix,
    get available() {
      return up;
    },
    async run<T>(op: (r: Redis) => Promise<T>): Promise<T> {
      if (!up) throw new RedisUnavailableError('not connected');
      try {
        return await op(redis);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (UNAVAILABLE.test(msg) || (e as { name?: string }).name === 'MaxRetriesPerRequestError') {
          throw new RedisUnavailableError(msg.split('\n')[0] ?? 'error');
        }
        throw e;
      }
    },
    ready(ms: number): Promise<boolean> {
      if (up) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          redis.off('ready', onReady);
          resolve(false);
        }, ms);
        const onReady = (): void => {
          clearTimeout(t);
          resolve(true);
        };
        redis.once('ready', onReady);
      });
    },
    async close(): Promise<void> {
      redis.removeAllListeners('ready');
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
