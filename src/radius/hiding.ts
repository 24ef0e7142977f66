/**
 * RFC 2868 §3.5 value hiding (as for Tunnel-Password; FreeRADIUS `encrypt=2`):
 * salt(2, high bit set) || (len(1) || value || zero padding) XORed with the
 * chain b1 = MD5(secret || Request-Authenticator || salt), bi = MD5(secret || c(i-1)).
 * The `radius` package does not implement it.
 */
import { randomWireBytes } from '../crypto/random-pool.js';
import { md5Of } from '../crypto/one-shot.js';

/** Longest value that still fits one vendor sub-attribute once hidden (247 bytes). */
export const MAX_HIDDEN_VALUE = 239;

/** Hands out salts that are unique within one packet, as RFC 2868 requires. */
export class SaltSource {
  /** The salts given so far: a packet hides one or two values, so a list (a Set per packet cost more). */
  private readonly used: number[] = [];
  next(): Buffer {
    for (;;) {
      const salt = randomWireBytes(2);
      salt[0] |= 0x80;
      const key = salt.readUInt16BE(0);
      if (!this.used.includes(key)) {
        this.used.push(key);
        return salt;
      }
    }
  }
}

function md5(secret: Buffer, a: Buffer, b?: Buffer): Buffer {
  return md5Of(b ? Buffer.concat([secret, a, b]) : Buffer.concat([secret, a]));
}

export function hideValue(value: Buffer, secret: Buffer, requestAuthenticator: Buffer, salt: Buffer): Buffer {
  if (value.length > MAX_HIDDEN_VALUE) throw new RangeError(`hidden value longer than ${MAX_HIDDEN_VALUE} bytes`);
  if (salt.length !== 2 || (salt[0] & 0x80) === 0) throw new RangeError('salt must be 2 bytes with the high bit set');
  const padded = Math.ceil((value.length + 1) / 16) * 16;
  const out = Buffer.alloc(2 + padded);
  salt.copy(out, 0);
  out[2] = value.length;
  value.copy(out, 3);
  let b = md5(secret, requestAuthenticator, salt);
  for (let i = 2; i < out.length; i += 16) {
    for (let j = 0; j < 16; j++) out[i + j] ^= b[j];
    if (i + 16 < out.length) b = md5(secret, out.subarray(i, i + 16));
  }
  return out;
}

/** The hidden value, or undefined if the field is not a well-formed hidden value. */
export function unhideValue(field: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer | undefined {
  if (field.length < 18 || (field.length - 2) % 16 !== 0 || (field[0] & 0x80) === 0) return undefined;
  const salt = field.subarray(0, 2);
  const plain = Buffer.alloc(field.length - 2);
  let b = md5(secret, requestAuthenticator, salt);
  for (let i = 2; i < field.length; i += 16) {
    for (let j = 0; j < 16; j++) plain[i - 2 + j] = field[i + j] ^ b[j];
    // (the chain's next block only when one follows: an MD5 fewer per value)
    if (i + 16 < field.length) b = md5(secret, field.subarray(i, i + 16));
  }
  const len = plain[0];
  if (len > plain.length - 1) return undefined;
  // Non-zero padding means a wrong secret or a tampered value.
  for (let i = 1 + len; i < plain.length; i++) if (plain[i] !== 0) return undefined;
  return plain.subarray(1, 1 + len);
}
