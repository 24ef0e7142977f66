import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AppHmacSigner, AppHmacVerifier } from '../../src/crypto/app-hmac.js';
import { SessionKeys } from '../../src/crypto/ks1.js';

const keys = new SessionKeys(randomBytes(32));
const msg = (s: string) => Buffer.from(s, 'utf8');

describe('app-hmac', () => {
  it('accepts signed messages in order and out of order inside the window', () => {
    const tx = new AppHmacSigner(keys.kAppHmac, 'uplink');
    const rx = new AppHmacVerifier(keys.kAppHmac, 'uplink');
    const sent = Array.from({ length: 10 }, (_, i) => ({ m: msg(`m${i}`), ...tx.protect(msg(`m${i}`)) }));
    expect(sent.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const s of [sent[0]!, sent[2]!, sent[1]!, sent[9]!, sent[5]!]) expect(rx.verify(s.seq, s.m, s.tag)).toBe('ok');
    expect(rx.highest).toBe(10);
  });

  it('rejects missing, wrong, replayed and too-old messages', () => {
    const tx = new AppHmacSigner(keys.kAppHmac, 'uplink');
    const rx = new AppHmacVerifier(keys.kAppHmac, 'uplink', 64);
    const a = tx.protect(msg('a'));
    expect(rx.verify(undefined, msg('a'), a.tag)).toBe('missing');
    expect(rx.verify(a.seq, msg('a'), undefined)).toBe('missing');
    expect(rx.verify(a.seq, msg('b'), a.tag)).toBe('bad-tag');
    expect(rx.verify(a.seq + 1, msg('a'), a.tag)).toBe('bad-tag');
    expect(rx.verify(a.seq, msg('a'), a.tag.subarray(0, 15))).toBe('bad-tag');
    expect(rx.verify(0, msg('a'), a.tag)).toBe('bad-tag');
    expect(rx.verify(a.seq, msg('a'), a.tag)).toBe('ok');
    expect(rx.verify(a.seq, msg('a'), a.tag)).toBe('replayed');
    const late = tx.sign(100, msg('late'));
    expect(rx.verify(100, msg('late'), late)).toBe('ok');
    expect(rx.verify(36, msg('x'), tx.sign(36, msg('x')))).toBe('too-old');
    expect(rx.verify(37, msg('x'), tx.sign(37, msg('x')))).toBe('ok');
  });

  it('a forged message does not move the window', () => {
    const tx = new AppHmacSigner(keys.kAppHmac, 'uplink');
    const rx = new AppHmacVerifier(keys.kAppHmac, 'uplink');
    expect(rx.verify(1_000_000, msg('x'), Buffer.alloc(16))).toBe('bad-tag');
    expect(rx.verify(1, msg('a'), tx.sign(1, msg('a')))).toBe('ok');
  });

  it('a message cannot be reflected to the other direction or used under another key', () => {
    const up = new AppHmacSigner(keys.kAppHmac, 'uplink');
    const down = new AppHmacVerifier(keys.kAppHmac, 'downlink');
    const s = up.protect(msg('hello'));
    expect(down.verify(s.seq, msg('hello'), s.tag)).toBe('bad-tag');
    const other = new AppHmacVerifier(new SessionKeys(randomBytes(32)).kAppHmac, 'uplink');
    expect(other.verify(s.seq, msg('hello'), s.tag)).toBe('bad-tag');
  });

  it('matches a simple model: every (seq) accepted at most once, nothing older than the window', () => {
    const W = 16;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 80 }), { maxLength: 200 }), (seqs) => {
        const tx = new AppHmacSigner(keys.kAppHmac, 'uplink');
        const rx = new AppHmacVerifier(keys.kAppHmac, 'uplink', W);
        const seen = new Set<number>();
        let top = 0;
        for (const s of seqs) {
          const m = msg(String(s));
          const got = rx.verify(s, m, tx.sign(s, m));
          const want = s <= top && top - s >= W ? 'too-old' : seen.has(s) ? 'replayed' : 'ok';
          expect(got).toBe(want);
          if (want === 'ok') {
            seen.add(s);
            top = Math.max(top, s);
          }
        }
      }),
    );
  });
});
