/**
 * Every setting, once: its path in the YAML config, its environment variable,
 * its type and what it does. README's configuration table is checked against
 * this list by a test, and `keyswitch config` prints the effective values.
 */
export type SettingType = 'string' | 'int' | 'secret';

export interface Setting {
  path: string;
  env: string;
  type: SettingType;
  doc: string;
}

export const SETTINGS: readonly Setting[] = [
  { path: 'dataDir', env: 'KEYSWITCH_DATA_DIR', type: 'string', doc: 'Data directory: the SQLite file, the master key file, generated secrets and certificates.' },
  { path: 'db.url', env: 'KEYSWITCH_DB_URL', type: 'secret', doc: 'Empty: embedded SQLite in the data directory. `postgres://user:pass@host/db`: PostgreSQL.' },
  { path: 'masterKey', env: 'KEYSWITCH_MASTER_KEY', type: 'secret', doc: 'Master key (64 hex digits) sealing long-term keys at rest. Empty: `master.key` in the data directory, created with mode 0600.' },
  { path: 'log.level', env: 'KEYSWITCH_LOG_LEVEL', type: 'string', doc: 'fatal, error, warn, info, debug or trace.' },
  { path: 'auc.api.host', env: 'KEYSWITCH_API_HOST', type: 'string', doc: 'Address of the provisioning API.' },
  { path: 'auc.api.port', env: 'KEYSWITCH_API_PORT', type: 'int', doc: 'Port of the provisioning API (0: any free port).' },
  { path: 'auc.api.bodyLimit', env: 'KEYSWITCH_API_BODY_LIMIT', type: 'int', doc: 'Largest request body the API accepts, in bytes (bulk imports included).' },
  { path: 'auc.challengeTtlSeconds', env: 'KEYSWITCH_CHALLENGE_TTL', type: 'int', doc: 'Lifetime of a challenge (Rand) in seconds; a Rand is also single-use.' },
  { path: 'auc.lockout.threshold', env: 'KEYSWITCH_LOCKOUT_THRESHOLD', type: 'int', doc: 'Failed authentications of one IDc within the window that lock it.' },
  { path: 'auc.lockout.windowSeconds', env: 'KEYSWITCH_LOCKOUT_WINDOW', type: 'int', doc: 'Window in seconds over which failures are counted.' },
  { path: 'auc.lockout.baseSeconds', env: 'KEYSWITCH_LOCKOUT_BASE', type: 'int', doc: 'First lockout duration in seconds; each further lockout doubles it.' },
  { path: 'auc.lockout.maxSeconds', env: 'KEYSWITCH_LOCKOUT_MAX', type: 'int', doc: 'Longest lockout in seconds.' },
  { path: 'auc.radius.host', env: 'KEYSWITCH_RADIUS_HOST', type: 'string', doc: 'Address of the AuC RADIUS server.' },
  { path: 'auc.radius.authPort', env: 'KEYSWITCH_RADIUS_AUTH_PORT', type: 'int', doc: 'RADIUS authentication port.' },
  { path: 'auc.radius.acctPort', env: 'KEYSWITCH_RADIUS_ACCT_PORT', type: 'int', doc: 'RADIUS accounting port.' },
  { path: 'auc.radius.secret', env: 'KEYSWITCH_RADIUS_SECRET', type: 'secret', doc: 'RADIUS shared secret. Empty: generated on first start into `radius.secret` in the data directory.' },
  { path: 'auc.radius.clients', env: 'KEYSWITCH_RADIUS_CLIENTS', type: 'string', doc: 'Comma-separated CIDRs allowed to send RADIUS to the AuC. Empty: any source (the shared secret and Message-Authenticator still apply).' },
  { path: 'auc.diameter.host', env: 'KEYSWITCH_DIAMETER_HOST', type: 'string', doc: 'Address of the AuC Diameter server.' },
  { path: 'auc.diameter.port', env: 'KEYSWITCH_DIAMETER_PORT', type: 'int', doc: 'Diameter port.' },
  { path: 'auc.diameter.originHost', env: 'KEYSWITCH_DIAMETER_ORIGIN_HOST', type: 'string', doc: 'Diameter Origin-Host of the AuC.' },
  { path: 'auc.diameter.originRealm', env: 'KEYSWITCH_DIAMETER_ORIGIN_REALM', type: 'string', doc: 'Diameter Origin-Realm of the AuC.' },
];
