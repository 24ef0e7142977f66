/**
 * The softswitch remembers each Digest nonce it has seen for the nonce lifetime
 * (300 s). Its key must not be a view on the REGISTER it was parsed from, or
 * every Digest REGISTER's text stays in memory that long (~700 bytes each,
 * docs/performance.md "Memory").
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { DigestAuth, digestResponse } from '../../src/softswitch/digest.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
};

it('a seen nonce does not keep the message it came from', async () => {
  const auth = new DigestAuth({ realm: 'lab.example', algorithms: ['MD5'] });
  await settle();
  const before = process.memoryUsage().heapUsed;
  (() => {
    const nonce = auth.newNonce();
    // a large message, and the nonce cut out of it as the parser does
    const text = `${'x'.repeat(8_000_000)}nonce="${nonce}"`;
    const cut = text.slice(text.length - nonce.length - 1, text.length - 1);
    // a right answer (only those are remembered) under the HA1 given below
    const response = digestResponse('MD5', '0'.repeat(32), { nonce: cut, nc: '00000001', cnonce: 'c0ffee', method: 'REGISTER', uri: 'sip:lab.example' });
    const p = { username: 'alice', realm: 'lab.example', nonce: cut, uri: 'sip:lab.example', response, qop: 'auth', nc: '00000001', cnonce: 'c0ffee' };
    const c = auth.check(p, 'alice@lab.example', 'sip:lab.example');
    expect(c.ok).toBe(true);
    if (c.ok) expect(auth.verify(c, p, 'REGISTER', c.algorithm, '0'.repeat(32))).toBe(true);
  })();
  await settle();
  expect(auth.trackedNonces).toBe(1);
  expect(process.memoryUsage().heapUsed - before).toBeLessThan(2_000_000);
});
