/**
 * Branch parameters (RFC 3261 §8.1.1.7): the magic cookie plus 64 fresh random bits and
 * a counter, so branches are unique in this process and unguessable from outside.
 * Random bytes come from a pool refilled 512 branches at a time, to keep it cheap per message.
 */
import { randomFillSync } from 'node:crypto';

export const MAGIC_COOKIE = 'z9hG4bK';

const pool = Buffer.alloc(4096);
let poolPos = pool.length;
let counter = 0;

export function randomBits64(): string {
  if (poolPos + 8 > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const s = pool.toString('base64url', poolPos, poolPos + 8);
  poolPos += 8;
  return s;
}

export function newBranch(): string {
  counter = (counter + 1) % 0x7fffffff;
  return MAGIC_COOKIE + randomBits64() + counter.toString(36);
}

/** True for an RFC 3261 branch (magic cookie followed by something). */
export function isRfc3261Branch(b: string | null | undefined): b is string {
  return typeof b === 'string' && b.length > MAGIC_COOKIE.length && b.startsWith(MAGIC_COOKIE);
}
