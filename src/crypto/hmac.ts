/**
 * HMAC-SHA256 (RFC 2104) under a key used once, as two one-shot hashes. Node 24
 * (OpenSSL 3.5) spends about 12 µs setting up an Hmac object, against 2.5 µs on
 * Node 20 (OpenSSL 3.0); a KS1 registration computes a dozen or more in each
 * party (docs/performance.md, "HMAC on Node 24 (session 13)"). Two one-shot
 * hashes cost the same on both. The copies of key and data are zeroed after use.
 * test/crypto/hmac.test.ts checks it against createHmac.
 */
import { sha256 } from './one-shot.js';

const BLOCK = 64;
const DIGEST = 32;

/** HMAC-SHA256(key, parts concatenated); strings are taken as UTF-8. */
export function hmacSha256(key: Buffer, ...parts: ReadonlyArray<Buffer | Uint8Array | string>): Buffer {
  const k = key.length > BLOCK ? sha256(key) : key;
  let len = BLOCK;
  for (const p of parts) len += typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
  const inner = Buffer.alloc(len, 0x36);
  for (let i = 0; i < k.length; i++) inner[i]! ^= k[i]!;
  let off = BLOCK;
  for (const p of parts) {
    if (typeof p === 'string') off += inner.write(p, off, 'utf8');
    else {
      inner.set(p, off);
      off += p.length;
    }
  }
  const outer = Buffer.alloc(BLOCK + DIGEST, 0x5c);
  for (let i = 0; i < k.length; i++) outer[i]! ^= k[i]!;
  sha256(inner).copy(outer, BLOCK);
  // the data can be secret too (HKDF-Extract's input is a long-term key)
  inner.fill(0);
  const mac = sha256(outer);
  outer.fill(0);
  if (k !== key) k.fill(0);
  return mac;
}
