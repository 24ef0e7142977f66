import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hmacSha256 } from '../../src/crypto/hmac.js';

describe('hmacSha256 (two one-shot hashes)', () => {
  it('equals createHmac for keys shorter than, equal to and longer than the block, and for every kind of part', () => {
    for (const keyLen of [0, 1, 16, 32, 63, 64, 65, 131]) {
      for (let round = 0; round < 20; round++) {
        const key = randomBytes(keyLen);
        const copy = Buffer.from(key);
        const bytes = randomBytes(round * 7);
        const text = `idc=user${round}@example.com\nnäme=${'€'.repeat(round)}\n`;
        const view = new Uint8Array(randomBytes(round));
        const expected = createHmac('sha256', key).update(bytes).update(text, 'utf8').update(view).digest();
        expect(hmacSha256(key, bytes, text, view).equals(expected), `key ${keyLen} round ${round}`).toBe(true);
        // the caller's key is left as it was (only this function's own copies are zeroed)
        expect(key.equals(copy)).toBe(true);
      }
    }
  });

  it('equals createHmac with no data at all', () => {
    const key = randomBytes(32);
    expect(hmacSha256(key).equals(createHmac('sha256', key).digest())).toBe(true);
  });
});
