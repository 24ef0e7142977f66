import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Seals long-term keys at rest under a master key that never enters the
 * database. Each sealed value is bound to the row it belongs to (associated
 * data), so a ciphertext copied to another row does not open, and to the
 * master key's version, so values sealed under two keys are never confused.
 * Versions are numbered by the database (table master_keys), which keeps each
 * version's check value.
 */
export class KeyVault {
  readonly version: number;
  /** The master key's check value (see checkValue): what the database keeps to recognise it. */
  readonly checkValue: string;
  /**
   * A KeyObject, not a Buffer: Node 24 spends ~12 µs telling a Buffer key from a
   * KeyObject in every createCipheriv (3.4 µs per seal with a KeyObject against 15.2;
   * Node 20: 3.1 either way). docs/performance.md, "HMAC on Node 24 (session 13)".
   */
  readonly #key: KeyObject;

  constructor(masterKey: Buffer, version = 1) {
    if (masterKey.length !== 32) throw new Error('master key must be 32 bytes');
    if (!Number.isSafeInteger(version) || version < 1) throw new Error('master key version must be a positive integer');
    this.#key = createSecretKey(masterKey);
    this.version = version;
    this.checkValue = checkValue(masterKey);
  }

  seal(plain: Buffer, binding: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(this.#aad(binding));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    return `v${this.version}.` + Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64url');
  }

  open(sealed: string, binding: string): Buffer {
    const version = sealedVersion(sealed);
    if (version === undefined) throw new Error('sealed value is malformed');
    if (version !== this.version) throw new Error(`sealed value is under master key version ${version}, not ${this.version}`);
    const raw = Buffer.from(sealed.slice(sealed.indexOf('.') + 1), 'base64url');
    if (raw.length < 28) throw new Error('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAAD(this.#aad(binding));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    // GCM hands the whole plaintext out of update() and nothing from final(): no concatenated copy, so the
    // caller's buffer is the only one left to zero.
    const plain = decipher.update(raw.subarray(12, raw.length - 16));
    let tail: Buffer;
    try {
      tail = decipher.final();
    } catch (err) {
      plain.fill(0);
      throw err;
    }
    if (tail.length === 0) return plain;
    const all = Buffer.concat([plain, tail]);
    plain.fill(0);
    return all;
  }

  #aad(binding: string): Buffer {
    return Buffer.from(`keyswitch-vault|v${this.version}|${binding}`, 'utf8');
  }

  // Keeps the key out of console.log / util.inspect / JSON output.
  toJSON(): string {
    return '[KeyVault]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[KeyVault]';
  }
}

/** The master-key version a sealed value names (`v<version>.…`), or undefined when it names none. */
export function sealedVersion(sealed: string): number | undefined {
  const m = /^v([1-9][0-9]{0,8})\./.exec(sealed);
  return m ? Number(m[1]) : undefined;
}

/**
 * A key check value: HMAC-SHA-256 under the master key of a fixed label,
 * 128 bits in hex. It identifies the key (the database keeps it to refuse a
 * wrong or missing key) and reveals nothing that helps find it.
 */
export function checkValue(masterKey: Buffer): string {
  return createHmac('sha256', masterKey).update('keyswitch master key check value').digest().subarray(0, 16).toString('hex');
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** The master key given as configuration (KEYSWITCH_MASTER_KEY, 64 hex digits). */
export function parseMasterKey(hex: string, what = 'master key'): Buffer {
  const t = hex.trim();
  if (!HEX64.test(t)) throw new Error(`${what} must be 64 hexadecimal digits`);
  return Buffer.from(t, 'hex');
}

/**
 * A master-key file (`master.key`: 64 hex digits and a newline). Missing:
 * undefined. Not a key: an error, unless `lenient` (a file a crash may have
 * left half-written), when it is undefined too.
 */
export function readMasterKeyFile(file: string, lenient = false): Buffer | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8').trim();
  if (!HEX64.test(text)) {
    if (lenient) return undefined;
    throw new Error(`master key file ${file} is not 64 hexadecimal digits`);
  }
  return Buffer.from(text, 'hex');
}

/**
 * Writes a new master-key file, mode 0600, never over an existing one, and
 * makes it durable (file and directory entry) before returning: a key the
 * database is about to depend on must survive a crash.
 */
export function writeMasterKeyFile(file: string, key: Buffer): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, key.toString('hex') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(dirname(file));
}

/** fsync of a directory, so that a file created, renamed or removed in it stays so after a crash. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
