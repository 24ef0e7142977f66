import { KeyVault, loadMasterKey } from '../crypto/vault.js';
import { AuditRepo } from './audit.js';
import { BindingRepo } from './bindings.js';
import { ChallengeRepo } from './challenges.js';
import { migrate, openDb, type Db, type DbOptions } from './db.js';
import { FailureRepo } from './failures.js';
import { proxyRepo, terminalRepo, type PrincipalRepo } from './principals.js';
import { RegistrationRepo } from './registrations.js';
import { SigningKeyRepo } from './signing-keys.js';
import { TokenRepo } from './tokens.js';

export interface StoreOptions extends DbOptions {
  masterKeyHex?: string;
  /** Clock in Unix milliseconds; tests move it. */
  now?: () => number;
  /** Apply migrations on open (default true). */
  migrate?: boolean;
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
  now: () => number;
  close(): Promise<void>;
}

/** The store a role or command opens from its configuration (data dir, database URL, master key). */
export function openStoreFromConfig(cfg: { dataDir: string; db: { url: string }; masterKey: string }): Promise<Store> {
  return openStore({ dataDir: cfg.dataDir, url: cfg.db.url || undefined, masterKeyHex: cfg.masterKey || undefined });
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const vault = new KeyVault(loadMasterKey({ masterKeyHex: opts.masterKeyHex, dataDir: opts.dataDir }));
  const db = await openDb(opts);
  if (opts.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.knex.destroy();
      throw err;
    }
  }
  const now = opts.now ?? Date.now;
  const k = db.knex;
  return {
    db,
    vault,
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
    close: () => k.destroy(),
  };
}

export { DuplicateError, type Principal, type Status } from './principals.js';
export type { Role } from './tokens.js';
export { migrate, openDb, redactUrl } from './db.js';
