/** Pool key material on disk: `pool-cert.pem` (public) and `pool-key.pem` (mode 0600). */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SigningPool, type PoolOptions } from './pool.js';
import type { PoolKeyMaterial } from './certificate.js';

export const POOL_CERT_FILE = 'pool-cert.pem';
export const POOL_KEY_FILE = 'pool-key.pem';

export function poolPaths(dir: string): { certFile: string; keyFile: string } {
  return { certFile: join(dir, POOL_CERT_FILE), keyFile: join(dir, POOL_KEY_FILE) };
}

/** Writes the pair; refuses to replace an existing one unless `force`. */
export function writePoolFiles(dir: string, m: PoolKeyMaterial, o: { force?: boolean } = {}): { certFile: string; keyFile: string } {
  const p = poolPaths(dir);
  if (!o.force && (existsSync(p.certFile) || existsSync(p.keyFile))) {
    throw new Error(`${dir} already holds a pool key pair (use --force to replace it; instances using the old one will stop verifying each other)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(p.keyFile, m.key, { mode: 0o600 });
  chmodSync(p.keyFile, 0o600); // an existing file keeps its mode on overwrite
  writeFileSync(p.certFile, m.cert, { mode: 0o644 });
  return p;
}

/** Loads a pool from its certificate and key files. */
export function loadPool(files: { certFile: string; keyFile: string }, o: PoolOptions = {}): SigningPool {
  return new SigningPool(readFileSync(files.certFile, 'utf8'), readFileSync(files.keyFile, 'utf8'), o);
}
