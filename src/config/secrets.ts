import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyFromHex } from './addresses.js';

/**
 * A secret that is either configured or, on first start, generated into the
 * data directory (mode 0600) and reused afterwards — so `keyswitch up` works
 * with no setup and the roles started separately agree on it.
 */
export function configuredOrStoredSecret(dataDir: string, file: string, configured: string, make: () => string = () => randomBytes(24).toString('base64url')): string {
  if (configured) return configured;
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const value = make();
  try {
    writeFileSync(path, value + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another role started at the same moment wrote it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8').trim();
    throw err;
  }
  chmodSync(path, 0o600);
  return value;
}

/**
 * The key of the SBC ↔ softswitch link signature (docs/sip-core-link.md):
 * `coreLink.key`, or `core-link.key` in the data directory, generated on
 * first start — so `keyswitch up`, and roles started separately on one data
 * directory, share it with no setup. Hosts with their own data directories
 * (docker-compose.yml) must be given the same value.
 */
export function coreLinkKey(dataDir: string, configured: string): Buffer {
  return keyFromHex(configuredOrStoredSecret(dataDir, 'core-link.key', configured, () => randomBytes(32).toString('hex')), 'coreLink.key');
}
