/**
 * HMAC-SHA256 (RFC 2104) under a key used once. Node 24 (OpenSSL 3.5) spends
 * about 12 µs setting up an Hmac object, against 2.5 µs on Node 20 (OpenSSL
 * 3.0); a KS1 registration computes a dozen or more in each party
 * (docs/performance.md, "HMAC on Node 24 (session 13)"). PreparedHmac's two
 * one-shot hashes cost the same on both. The pads and the copy of the data are
 * zeroed after use. test/crypto/hmac.test.ts checks it against createHmac.
 */
import { HMAC_BLOCK, PreparedHmac } from './prepared-hmac.js';

/** HMAC-SHA256(key, parts concatenated); strings are taken as UTF-8. */
export function hmacSha256(key: Buffer, ...parts: ReadonlyArray<Buffer | Uint8Array | string>): Buffer {
  const h = new PreparedHmac('sha256', key);
  let len = HMAC_BLOCK;
  for (const p of parts) len += typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
  const inner = Buffer.alloc(len);
  h.ipad.copy(inner, 0);
  let off = HMAC_BLOCK;
  for (const p of parts) {
    if (typeof p === 'string') off += inner.write(p, off, 'utf8');
    else {
      inner.set(p, off);
      off += p.length;
    }
  }
  const mac = h.finish(inner);
  // the data can be secret too (HKDF-Extract's input is a long-term key)
  inner.fill(0);
  h.wipe();
  return mac;
}
