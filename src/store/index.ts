import type { KeyVault } from '../crypto/vault.js';
import { AuditRepo } from './audit.js';
import { BindingRepo, type LocationStore } from './bindings.js';
import { migrate, openDb, type Db, type DbOptions } from './db.js';
import { FailureRepo } from './failures.js';
import { ensureRegistrarTable } from './registrar-file.js';
import { openHot, type HotStore } from './hot/index.js';
import { resolveMasterKey } from './master-key.js';
import { proxyRepo, terminalRepo, type PrincipalRepo } from './principals.js';
import { RegistrationRepo } from './registrations.js';
import { SbcStateRepo } from './sbc-state.js';
import { SigningKeyRepo } from './signing-keys.js';
import { TokenRepo } from './tokens.js';
import { MemoryChallengeStore, type ChallengeStore } from './volatile/challenges.js';
import type { SharedRedis } from './redis/client.js';
import { redisFromSettings, type RedisSettings } from './redis/index.js';
import { RedisBindingRepo } from './redis/bindings.js';
import { RedisChallengeStore } from './redis/challenges.js';
import { VoicemailRepo } from './voicemail.js';

export interface StoreOptions extends DbOptions {
  masterKeyHex?: string;
  /** Clock in Unix milliseconds; tests move it. */
  now?: () => number;
  /** Apply migrations on open (default true). */
  migrate?: boolean;
  /** Lines for the operator while opening (an interrupted master-key rotation finished); default stderr. */
  onNotice?: (line: string) => void;
  /**
   * Shared Redis (several instances of the roles): challenges and SIP
   * bindings live there instead of memory and the database (docs/scale-out.md).
   * The store closes it.
   */
  redis?: SharedRedis;
}

export interface Store {
  db: Db;
  vault: KeyVault;
  terminals: PrincipalRepo;
  proxies: PrincipalRepo;
  /** Volatile: in this process's memory, never on disk (src/store/volatile); in Redis when `redis` is set. */
  challenges: ChallengeStore;
  /** The shared Redis, when configured (redis.url / redis.sentinels). */
  redis?: SharedRedis;
  registrations: RegistrationRepo;
  failures: FailureRepo;
  tokens: TokenRepo;
  audit: AuditRepo;
  /** SIP location service (softswitch registrar): the database, or Redis when `redis` is set. */
  bindings: LocationStore;
  /** SBC header-signing keys (docs/header-signing.md). */
  signingKeys: SigningKeyRepo;
  /** The SBCs' blocks, failure snapshots and operator actions (docs/operations.md). */
  sbcState: SbcStateRepo;
  /** Voicemail's licence server: messages, sealed content keys, grants (docs/voicemail.md). */
  voicemail: VoicemailRepo;
  /** Migrations applied by this open. */
  migrations: string[];
  /** Prepared statements of the registration path (src/store/hot); the repositories use them. */
  hot: HotStore;
  now: () => number;
  /** Commits queued writes, then closes the connections. */
  close(): Promise<void>;
}

/**
 * The store a role or command opens from its configuration (data dir,
 * database URL, master key). It never creates the data directory unless
 * asked: `keyswitch up` and the roles make it before, one-shot commands only
 * with --init.
 */
export async function openStoreFromConfig(
  cfg: { dataDir: string; db: { url: string }; masterKey: string; redis?: RedisSettings },
  o: { createDataDir?: boolean; onNotice?: (line: string) => void } = {},
): Promise<Store> {
  const redis = cfg.redis ? redisOf(cfg.redis, o.onNotice) : undefined;
  try {
    return await openStore({
      dataDir: cfg.dataDir,
      url: cfg.db.url || undefined,
      masterKeyHex: cfg.masterKey || undefined,
      createDataDir: o.createDataDir ?? false,
      ...(o.onNotice ? { onNotice: o.onNotice } : {}),
      ...(redis ? { redis } : {}),
    });
  } catch (err) {
    await redis?.close();
    throw err;
  }
}

/** The shared Redis of `redis.*`, or undefined when none is configured; each change of availability is one notice. */
function redisOf(r: RedisSettings, onNotice: ((line: string) => void) | undefined): SharedRedis | undefined {
  const say = onNotice ?? ((line: string) => void process.stderr.write(`keyswitch: ${line}\n`));
  return redisFromSettings(r, (up, where, why) =>
    say(up ? `shared state (Redis ${where}) available` : `shared state (Redis ${where}) unavailable (${why}): requests that need it are answered 503 until it returns`),
  );
}

/**
 * Opens the database, applies migrations, and refuses (MasterKeyError) unless
 * the master key opens what is sealed in it (src/store/master-key.ts).
 */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const db = await openDb(opts);
  const now = opts.now ?? Date.now;
  let vault: KeyVault;
  let migrations: string[] = [];
  try {
    if (opts.migrate !== false) migrations = await migrate(db);
    await ensureRegistrarTable(db.knex);
    vault = await resolveMasterKey(db.knex, {
      masterKeyHex: opts.masterKeyHex,
      dataDir: opts.dataDir,
      createDataDir: opts.createDataDir ?? true,
      now,
      onNotice: opts.onNotice ?? ((line) => void process.stderr.write(`keyswitch: ${line}\n`)),
    });
  } catch (err) {
    await db.knex.destroy();
    throw err;
  }
  const k = db.knex;
  let hot: HotStore;
  try {
    hot = openHot(db, opts);
  } catch (err) {
    await k.destroy();
    throw err;
  }
  return {
    db,
    vault,
    migrations,
    now,
    hot,
    terminals: terminalRepo(k, vault, now, hot),
    proxies: proxyRepo(k, vault, now, hot),
    challenges: opts.redis ? new RedisChallengeStore(opts.redis, now) : new MemoryChallengeStore(now),
    ...(opts.redis ? { redis: opts.redis } : {}),
    registrations: new RegistrationRepo(k, now, hot),
    failures: new FailureRepo(k, now, hot),
    tokens: new TokenRepo(k, now),
    audit: new AuditRepo(k, now),
    bindings: opts.redis ? new RedisBindingRepo(opts.redis, now) : new BindingRepo(k, now, hot),
    signingKeys: new SigningKeyRepo(k, vault),
    sbcState: new SbcStateRepo(k, now),
    voicemail: new VoicemailRepo(k, vault, now),
    close: async () => {
      try {
        await hot.close();
      } finally {
        await k.destroy();
        await opts.redis?.close();
      }
    },
  };
}

export { DuplicateError, type Principal, type Status } from './principals.js';
export type { Role } from './tokens.js';
export { DataDirError, describeStore, ensureDataDir, migrate, openDb, redactUrl } from './db.js';
export { MasterKeyError } from './master-key.js';
