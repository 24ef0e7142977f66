import { userInfo } from 'node:os';
import { ConfigError, loadConfig, type Config } from '../config/load.js';
import { openStoreFromConfig, type Store } from '../store/index.js';

export interface GlobalFlags {
  config?: string;
  dataDir?: string;
  dbUrl?: string;
  logLevel?: string;
}

export function configFrom(flags: GlobalFlags, extra: Record<string, unknown> = {}): Config {
  return loadConfig({
    configFile: flags.config,
    flags: { dataDir: flags.dataDir, 'db.url': flags.dbUrl, 'log.level': flags.logLevel, ...extra },
  });
}

export async function withStore<T>(flags: GlobalFlags, fn: (store: Store, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = configFrom(flags);
  const store = await openStoreFromConfig(cfg);
  try {
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
  return err instanceof UsageError || err instanceof ConfigError;
}
