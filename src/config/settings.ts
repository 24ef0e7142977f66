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
  { path: 'softswitch.sip.host', env: 'KEYSWITCH_SOFTSWITCH_HOST', type: 'string', doc: 'Address of the softswitch SIP listener (UDP and TCP).' },
  { path: 'softswitch.sip.port', env: 'KEYSWITCH_SOFTSWITCH_PORT', type: 'int', doc: 'Softswitch SIP port (UDP and TCP).' },
  { path: 'softswitch.sip.tlsPskPort', env: 'KEYSWITCH_SOFTSWITCH_TLS_PSK_PORT', type: 'int', doc: 'TLS-PSK port for terminals registering with KS1 straight at the softswitch (needs `softswitch.identity`); 0: none.' },
  { path: 'softswitch.mgcpPort', env: 'KEYSWITCH_SOFTSWITCH_MGCP_PORT', type: 'int', doc: 'Softswitch MGCP call-agent port (UDP, on `softswitch.sip.host`); 0: no MGCP.' },
  { path: 'softswitch.h248Port', env: 'KEYSWITCH_SOFTSWITCH_H248_PORT', type: 'int', doc: 'Softswitch H.248 MGC port (UDP, on `softswitch.sip.host`); 0: no H.248.' },
  { path: 'softswitch.digestAlgorithms', env: 'KEYSWITCH_DIGEST_ALGORITHMS', type: 'string', doc: 'Digest challenges in order of preference (`SHA-256,MD5`; some phones and sipp read only the first, so `MD5,SHA-256` for them).' },
  { path: 'softswitch.realm', env: 'KEYSWITCH_REALM', type: 'string', doc: 'SIP Digest realm of the softswitch.' },
  { path: 'softswitch.trustedSbcs', env: 'KEYSWITCH_TRUSTED_SBCS', type: 'string', doc: 'Comma-separated CIDRs whose `P-KS-*` headers the softswitch believes (the SBCs).' },
  { path: 'softswitch.identity', env: 'KEYSWITCH_SOFTSWITCH_IDENTITY', type: 'string', doc: 'Identity the softswitch uses as IDsp for terminals registering without an SBC; empty: no KS1 without an SBC.' },
  { path: 'softswitch.key', env: 'KEYSWITCH_SOFTSWITCH_KEY', type: 'secret', doc: 'Its key Kc,s (64 hex). Empty: `softswitch.key` in the data directory, generated (and provisioned by `up`).' },
  { path: 'softswitch.expires.min', env: 'KEYSWITCH_EXPIRES_MIN', type: 'int', doc: 'Shortest registration accepted (423 below it), seconds.' },
  { path: 'softswitch.expires.max', env: 'KEYSWITCH_EXPIRES_MAX', type: 'int', doc: 'Longest registration granted, seconds.' },
  { path: 'softswitch.expires.default', env: 'KEYSWITCH_EXPIRES_DEFAULT', type: 'int', doc: 'Registration lifetime when the terminal asks for none, seconds.' },
  { path: 'softswitch.auc.protocol', env: 'KEYSWITCH_AUC_PROTOCOL', type: 'string', doc: '`radius` or `diameter`: how the softswitch reaches the AuC.' },
  { path: 'softswitch.auc.peers', env: 'KEYSWITCH_AUC_PEERS', type: 'string', doc: 'Comma-separated AuC peers `host:port` in failover order (RADIUS: the auth port; accounting is port+1). Empty: the local AuC from `auc.radius`/`auc.diameter`.' },
  { path: 'softswitch.auc.timeoutMs', env: 'KEYSWITCH_AUC_TIMEOUT_MS', type: 'int', doc: 'Bound on one AuC request across all peers; past it the softswitch answers 503 with Retry-After.' },
  { path: 'sbc.idsp', env: 'KEYSWITCH_SBC_IDSP', type: 'string', doc: 'The SBC identity IDsp.' },
  { path: 'sbc.key', env: 'KEYSWITCH_SBC_KEY', type: 'secret', doc: 'The SBC key Ksp (64 hex). Empty: `sbc.key` in the data directory, generated (and provisioned by `up`).' },
  { path: 'sbc.host', env: 'KEYSWITCH_SBC_HOST', type: 'string', doc: 'Address of the SBC untrusted (terminal-facing) listeners.' },
  { path: 'sbc.udpPort', env: 'KEYSWITCH_SBC_UDP_PORT', type: 'int', doc: 'SBC SIP UDP port.' },
  { path: 'sbc.tcpPort', env: 'KEYSWITCH_SBC_TCP_PORT', type: 'int', doc: 'SBC SIP TCP port.' },
  { path: 'sbc.tlsPort', env: 'KEYSWITCH_SBC_TLS_PORT', type: 'int', doc: 'SBC SIP TLS port (certificate and TLS-PSK).' },
  { path: 'sbc.tlsPskPort', env: 'KEYSWITCH_SBC_TLS_PSK_PORT', type: 'int', doc: 'SBC SIP TLS-PSK port (PSK = the session key Kc,sp, identity = IDc); 0: tls-psk is not offered.' },
  { path: 'sbc.mgcpPort', env: 'KEYSWITCH_SBC_MGCP_PORT', type: 'int', doc: 'SBC MGCP port facing gateways (UDP); 0: no MGCP.' },
  { path: 'sbc.h248Port', env: 'KEYSWITCH_SBC_H248_PORT', type: 'int', doc: 'SBC H.248 port facing gateways (UDP); 0: no H.248.' },
  { path: 'sbc.softswitchMgcp', env: 'KEYSWITCH_SBC_SOFTSWITCH_MGCP', type: 'string', doc: 'The softswitch MGCP call agent `ip:port`.' },
  { path: 'sbc.softswitchH248', env: 'KEYSWITCH_SBC_SOFTSWITCH_H248', type: 'string', doc: 'The softswitch H.248 MGC `ip:port`.' },
  { path: 'sbc.softswitch', env: 'KEYSWITCH_SBC_SOFTSWITCH', type: 'string', doc: 'The softswitch `host:port` the SBC forwards to (trusted link).' },
  { path: 'sbc.mechanisms', env: 'KEYSWITCH_SBC_MECHANISMS', type: 'string', doc: 'What the SBC offers, RFC 3329 style with priorities (only tls-psk, app-hmac, tls exist).' },
  { path: 'sbc.tls.certFile', env: 'KEYSWITCH_SBC_TLS_CERT', type: 'string', doc: 'PEM certificate of the SBC. Empty: a self-signed one generated into the data directory.' },
  { path: 'sbc.tls.keyFile', env: 'KEYSWITCH_SBC_TLS_KEY', type: 'string', doc: 'PEM private key of that certificate.' },
];
