/** The signature token on the wire: `<kid>.<mac>`, the MAC a truncated HMAC-SHA256. */
import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { HMAC_BLOCK, PreparedHmac } from '../../crypto/prepared-hmac.js';

/** 128 bits of HMAC-SHA256: 22 base64url characters. */
export const MAC_BYTES = 16;

const TOKEN_RE = /^([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{22})$/;

/**
 * Each signing key's HMAC pads, made at its first MAC (an Hmac object per MAC
 * sets the key up again, which costs more than hashing a few hundred bytes).
 * Held as long as the KeyObject is: a rotated-out key takes its pads with it.
 */
const prepared = new WeakMap<KeyObject, PreparedHmac>();

function preparedFor(key: KeyObject): PreparedHmac {
  let h = prepared.get(key);
  if (h === undefined) {
    const bytes = key.export();
    h = new PreparedHmac('sha256', bytes);
    bytes.fill(0);
    prepared.set(key, h);
  }
  return h;
}

export function mac(key: KeyObject, input: string): Buffer {
  const h = preparedFor(key);
  const data = Buffer.allocUnsafe(HMAC_BLOCK + Buffer.byteLength(input, 'utf8'));
  h.ipad.copy(data, 0);
  data.write(input, HMAC_BLOCK, 'utf8');
  return h.finish(data).subarray(0, MAC_BYTES);
}

export function formatToken(kid: string, m: Buffer): string {
  return kid + '.' + m.toString('base64url');
}

/** Splits a token; undefined when it is not exactly `<8 chars>.<22 chars>` of base64url. */
export function parseToken(v: string | null | undefined): { kid: string; mac: Buffer } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = TOKEN_RE.exec(v);
  if (!m) return undefined;
  const raw = Buffer.from(m[2]!, 'base64url');
  if (raw.length !== MAC_BYTES) return undefined;
  return { kid: m[1]!, mac: raw };
}

export function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
