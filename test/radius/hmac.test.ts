import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { hmacMd5 } from '../../src/radius/sign.js';

// The Message-Authenticator's HMAC-MD5 is two one-shot MD5s over pads made once per secret (src/radius/sign.ts).
it('HMAC-MD5 is what createHmac computes, for any secret length (longer than a block too) and data', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.uint8Array({ minLength: 0, maxLength: 600 }), (secret, data) => {
      const s = Buffer.from(secret);
      const d = Buffer.from(data);
      const want = createHmac('md5', s).update(d).digest();
      expect(hmacMd5(s, d).equals(want)).toBe(true);
      // again with the pads cached for this secret
      expect(hmacMd5(s, d).equals(want)).toBe(true);
    }),
    { numRuns: 300 },
  );
});

it('RFC 2104 test vector', () => {
  expect(hmacMd5(Buffer.alloc(16, 0x0b), Buffer.from('Hi There')).toString('hex')).toBe('9294727a3638bb1c13f48ef8158bfc9d');
  expect(hmacMd5(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex')).toBe('750c783e6ab0b503eaa86e310a5db738');
});
