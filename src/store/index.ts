import type { KeyVault } from '../crypto/vault.js';
import { AuditRepo } from './audit.js';
import { BindingRepo } from './bindings.js';
import { ChallengeRepo } from './challenges.js';
import { migrate, openDb, type Db, type DbOptions } from './db.js';
import { FailureRepo } from './failures.js';
import { resolveMasterKey } from './master-key.js';
import { proxyRepo, terminalRepo, type PrincipalRepo } from './principals.js';
import { RegistrationRepo } from './registrations.js';
import { SbcStateRepo } from './sbc-state.js';
import { SigningKeyRepo } from './signing-keys.js';
import { TokenRepo } from './tokens.js';

export interface StoreOptions extends DbOptions {
  masterKeyHex?: string;
  /** Clock in Unix milliseconds; tests move it. */
  now?: () => number;
  /** Apply migrations on open (default true). */
  migrate?: boolean;
  /** Lines for the operator while opening (an interrupted master-key rotation finished); default stderr. */
  onNotice?: (line: string) => void;
}

export interface Store {
  db: Db;
  vault: KeyVault;
  terminals: PrincipalRepo;
  proxies: PrincipalRepo;
  challenges: ChallengeRepo;
  registrations: RegistrationRepo;
  failures: FailureRepo;
  tokens: TokenRepo;
  audit: AuditRepo;
  /** SIP location service (softswitch registrar). */
  bindings: BindingRepo;
  /** SBC header-signing keys (docs/header-signing.md). */
  signingKeys: SigningKeyRepo;
  /** The SBCs' blocks, failure snapshots and operator actions (docs/operations.md). */
  sbcState: SbcStateRepo;
  /** Migrations applied by this open. */
  migrations: string[];
  now: () => number;
  close(): Promise<void>;
}

/**
 * The store a role or command opens from its configuration (data dir,
 * database URL, master key). It never creates the data directory unless
 * asked: `keyswitch up` and the roles make it before, one-shot commands only
 * with --init.
 */
export function openStoreFromConfig(
  cfg: { dataDir: string; db: { url: string }; masterKey: string },
  o: { createDataDir?: boolean; onNotice?: (line: string) => void } = {},
): Promise<Store> {
  return openStore({
    dataDir: cfg.dataDir,
    url: cfg.db.url || undefined,
    masterKeyHex: cfg.masterKey || undefined,
    createDataDir: o.createDataDir ?? false,
    ...(o.onNotice ? { onNotice: o.onNotice } : {}),
  });
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
  return {
    db,
    vault,
    migrations,
    now,
    terminals: terminalRepo(k, vault, now),
    proxies: proxyRepo(k, vault, now),
    challenges: new ChallengeRepo(k, now),
    registrations: new RegistrationRepo(k, now),
    failures: new FailureRepo(k, now),
    tokens: new TokenRepo(k, now),
    audit: new AuditRepo(k, now),
    bindings: new BindingRepo(k, now),
    signingKeys: new SigningKeyRepo(k, vault),
    sbcState: new SbcStateRepo(k, now),
    close: () => k.destroy(),
  };
}

export { DuplicateError, type Principal, type Status } from './principals.js';
export type { Role } from './tokens.js';
export { DataDirError, describeStore, ensureDataDir, migrate, openDb, redactUrl } from './db.js';
export { MasterKeyError } from './master-key.js';
