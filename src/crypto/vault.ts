import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Seals long-term keys at rest under a master key that never enters the
 * database. Each sealed value is bound to the row it belongs to (associated
 * data), so a ciphertext copied to another row does not open.
 */
export class KeyVault {
  readonly version: number;
  readonly #key: Buffer;

  constructor(masterKey: Buffer, version = 1) {
    if (masterKey.length !== 32) throw new Error('master key must be 32 bytes');
    this.#key = Buffer.from(masterKey);
    this.version = version;
  }

  seal(plain: Buffer, binding: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(this.#aad(binding));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    return `v${this.version}.` + Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64url');
  }

  open(sealed: string, binding: string): Buffer {
    const dot = sealed.indexOf('.');
    const version = Number(sealed.slice(1, dot));
    if (sealed[0] !== 'v' || dot < 2 || version !== this.version) {
      throw new Error('sealed value uses an unknown master key version');
    }
    const raw = Buffer.from(sealed.slice(dot + 1), 'base64url');
    if (raw.length < 28) throw new Error('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAAD(this.#aad(binding));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
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

const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * The master key comes from KEYSWITCH_MASTER_KEY (64 hex digits) or from
 * `master.key` in the data directory, created with mode 0600 on first use.
 */
export function loadMasterKey(opts: { masterKeyHex?: string; dataDir: string }): Buffer {
  if (opts.masterKeyHex) {
    if (!HEX64.test(opts.masterKeyHex)) throw new Error('master key must be 64 hexadecimal digits');
    return Buffer.from(opts.masterKeyHex, 'hex');
  }
  const file = join(opts.dataDir, 'master.key');
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    if (!HEX64.test(text)) throw new Error(`master key file ${file} is not 64 hexadecimal digits`);
    return Buffer.from(text, 'hex');
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}
