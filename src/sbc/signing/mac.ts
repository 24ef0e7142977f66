/** The signature token on the wire: `<kid>.<mac>`, the MAC a truncated HMAC-SHA256. */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/** 128 bits of HMAC-SHA256: 22 base64url characters. */
export const MAC_BYTES = 16;

const TOKEN_RE = /^([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{22})$/;

export function mac(key: KeyObject, input: string): Buffer {
  return createHmac('sha256', key).update(input, 'utf8').digest().subarray(0, MAC_BYTES);
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
