/**
 * Random bytes for values that go on the wire (tags, branches, nonces' IVs,
 * RADIUS authenticators and salts), drawn from the CSPRNG 4 KiB at a time:
 * each `crypto.randomBytes` call is a trip into OpenSSL (~1.5 µs for 8
 * bytes on Node 20), and the hot path makes several per message. The bytes
 * are as unpredictable as `randomBytes`'; what differs is that they wait in
 * this process's memory until used, so keys and other secrets never come
 * from here (they use `randomBytes` and are zeroed after use).
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_SIZE);
let offset = POOL_SIZE;

function take(n: number): number {
  if (n > POOL_SIZE) throw new RangeError('randomWireBytes: at most 4096 bytes');
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

/** `n` fresh random bytes in a buffer of their own (a copy: the pool is refilled later). */
export function randomWireBytes(n: number): Buffer {
  const at = take(n);
  return Buffer.from(pool.subarray(at, at + n));
}

/** `n` random bytes as base64url text (a tag, a branch, a token). */
export function randomWireToken(n: number): string {
  const at = take(n);
  return pool.toString('base64url', at, at + n);
}
