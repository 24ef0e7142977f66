import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { hkdf32, hkdf32Pair, INFO_APP_HMAC, INFO_AUTH, INFO_MAC, INFO_WRAP, SessionKeys, TerminalKeys } from '../../src/crypto/ks1.js';

const reference = (key: Buffer, info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));

it('hkdf32 is HKDF-SHA256 with an empty salt: the same bytes as node:crypto hkdfSync, for every key and info', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.oneof(fc.constantFrom(INFO_AUTH, INFO_WRAP, INFO_MAC, INFO_APP_HMAC), fc.string({ unit: 'grapheme', maxLength: 200 })), (k, info) => {
      const key = Buffer.from(k);
      expect(hkdf32(key, info).equals(reference(key, info))).toBe(true);
    }),
    { numRuns: 500 },
  );
});

it('hkdf32 refuses a key that is not 32 bytes, naming no value', () => {
  expect(() => hkdf32(Buffer.alloc(31), INFO_AUTH)).toThrow(/32 bytes/);
});

it('hkdf32Pair gives exactly hkdf32 of each info (one extract step, two expands), for every key and pair of infos', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (k, a, b) => {
      const key = Buffer.from(k);
      const [x, y] = hkdf32Pair(key, a, b);
      expect(x.equals(reference(key, a))).toBe(true);
      expect(y.equals(reference(key, b))).toBe(true);
    }),
    { numRuns: 300 },
  );
  expect(() => hkdf32Pair(Buffer.alloc(33), INFO_MAC, INFO_APP_HMAC)).toThrow(/32 bytes/);
});

it('the keys derived in pairs are those derived one by one (TerminalKeys, SessionKeys)', () => {
  const k = Buffer.alloc(32, 7);
  const t = new TerminalKeys(k);
  expect(t.kAuth.equals(reference(k, INFO_AUTH))).toBe(true);
  expect(t.kWrap.equals(reference(k, INFO_WRAP))).toBe(true);
  const s = new SessionKeys(k);
  expect(s.sessionKey.equals(k)).toBe(true);
  expect(s.kMac.equals(reference(k, INFO_MAC))).toBe(true);
  expect(s.kAppHmac.equals(reference(k, INFO_APP_HMAC))).toBe(true);
});
