/**
 * HMAC (RFC 2104) under one key, for a key that signs or checks message after
 * message: the key's inner and outer pads are made once, and each HMAC is then
 * two one-shot hashes. An Hmac object per message sets its key up again, which
 * cost more than the hashing of a short message.
 */
import { md5Of, sha256 } from './one-shot.js';

/** MD5's and SHA-256's block, in bytes. */
export const HMAC_BLOCK = 64;

export class PreparedHmac {
  /** The key XOR ipad: the block the caller puts before the data it hands to finish(). */
  readonly ipad: Buffer;
  /** The key XOR opad, then room for the inner digest (used synchronously only). */
  readonly #outer: Buffer;
  readonly #hash: (data: Buffer) => Buffer;

  constructor(algorithm: 'md5' | 'sha256', key: Buffer) {
    this.#hash = algorithm === 'md5' ? md5Of : sha256;
    const k = key.length > HMAC_BLOCK ? this.#hash(key) : key;
    this.ipad = Buffer.alloc(HMAC_BLOCK, 0x36);
    this.#outer = Buffer.alloc(HMAC_BLOCK + (algorithm === 'md5' ? 16 : 32), 0x5c);
    for (let i = 0; i < k.length; i++) {
      this.ipad[i]! ^= k[i]!;
      this.#outer[i]! ^= k[i]!;
    }
    if (k !== key) k.fill(0);
  }

  /** Zeroes the pads: for a key used once (hmacSha256), whose pads must not outlive it. */
  wipe(): void {
    this.ipad.fill(0);
    this.#outer.fill(0);
  }

  /** The HMAC of what follows the first block of `withIpad`, a block the caller filled with `ipad`. */
  finish(withIpad: Buffer): Buffer {
    this.#hash(withIpad).copy(this.#outer, HMAC_BLOCK);
    return this.#hash(this.#outer);
  }
}
