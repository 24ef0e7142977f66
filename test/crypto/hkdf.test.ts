import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { hkdf32, INFO_APP_HMAC, INFO_AUTH, INFO_MAC, INFO_WRAP } from '../../src/crypto/ks1.js';

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
