import { userInfo } from 'node:os';
import { ConfigError, loadConfig, type Config } from '../config/load.js';
import { DataDirError, describeStore, MasterKeyError, openStoreFromConfig, type Store } from '../store/index.js';

export interface GlobalFlags {
  config?: string;
  dataDir?: string;
  dbUrl?: string;
  logLevel?: string;
  /** Create the data directory (and a first master key) if missing. */
  init?: boolean;
}

export function configFrom(flags: GlobalFlags, extra: Record<string, unknown> = {}): Config {
  return loadConfig({
    configFile: flags.config,
    flags: { dataDir: flags.dataDir, 'db.url': flags.dbUrl, 'log.level': flags.logLevel, ...extra },
  });
}

/** The line every command that uses the store prints on stderr first, so the operator sees which one it was. */
export function announceStore(cfg: Config): void {
  process.stderr.write(`store: ${describeStore({ url: cfg.db.url || undefined, dataDir: cfg.dataDir })}\n`);
}

/** How long a one-shot command waits for the shared Redis to connect. */
const REDIS_CONNECT_MS = 5000;

/** Opens the store for a one-shot command: says which, creates no data directory without --init. */
export async function withStore<T>(flags: GlobalFlags, fn: (store: Store, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = configFrom(flags);
  announceStore(cfg);
  const store = await openStoreFromConfig(cfg, { createDataDir: Boolean(flags.init), onNotice: (l) => void process.stderr.write(`keyswitch: ${l}\n`) });
  try {
    // Redis commands are never queued while it connects (they fail at once, for the roles' sake): a
    // one-shot command waits for the connection first, else its first read or write of shared state fails.
    if (store.redis && !(await store.redis.ready(REDIS_CONNECT_MS))) process.stderr.write(`keyswitch: shared state (Redis) not reached within ${REDIS_CONNECT_MS / 1000} s; what needs it fails\n`);
    return await fn(store, cfg);
  } finally {
    await store.close();
  }
}

export function cliActor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    /* no passwd entry in some containers */
  }
  return `cli:${name}`;
}

/** Errors a user can act on are printed plainly; anything else too, but without a stack unless asked. */
export class UsageError extends Error {}

export function isUserError(err: unknown): boolean {
  return err instanceof UsageError || err instanceof ConfigError || err instanceof DataDirError || err instanceof MasterKeyError;
}
