import { describe, expect, it } from 'vitest';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { MacMemo } from '../../src/sbc/signing/mac-memo.js';
import { mac } from '../../src/sbc/signing/mac.js';
import { RouteLineCache, routeItems, joinLines } from '../../src/sbc/signing/route-lines.js';
import { canonicalUri, routeLines } from '../../src/sbc/signing/canonical.js';
import { PARAM } from '../../src/sbc/signing/sip-signatures.js';
import { SipHeaderError } from '../../src/sip/index.js';
import { call, Clock, makeSigner, req, requestFromA } from './flow.js';

describe('mac (mac.ts): HMAC-SHA256 from pads made once per key', () => {
  it('is the first 16 bytes of HMAC-SHA256, for any key length and any text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 600 }), (k, input) => {
        const key = createSecretKey(Buffer.from(k));
        const want = createHmac('sha256', key).update(input, 'utf8').digest().subarray(0, 16);
        return mac(key, input).equals(want) && mac(key, input).equals(want);
      }),
    );
  });
});

describe('MAC memo (mac-memo.ts)', () => {
  it('gives the HMAC of the input whether it signed it or not', () => {
    const key = createSecretKey(randomBytes(32));
    const memo = new MacMemo(4);
    const signed = memo.sign(key, 'c1', 'input one');
    expect(signed.equals(mac(key, 'input one'))).toBe(true);
    expect(memo.verify(key, 'c1', 'input one').equals(signed)).toBe(true);
    expect(memo.verify(key, 'c1', 'input two').equals(mac(key, 'input two'))).toBe(true);
  });

  it('keeps only what it signed: what a peer makes it check never enters', () => {
    const key = createSecretKey(randomBytes(32));
    const memo = new MacMemo(4);
    for (let i = 0; i < 100; i++) memo.verify(key, 'c1', `peer input ${i}`);
    expect(memo.size).toBe(0);
  });

  it('answers for the key object it signed with, not for another key under the same input', () => {
    const bytes = randomBytes(32);
    const key = createSecretKey(bytes);
    const other = createSecretKey(randomBytes(32));
    const memo = new MacMemo(4);
    memo.sign(key, 'c1', 'same input');
    expect(memo.verify(other, 'c1', 'same input').equals(mac(other, 'same input'))).toBe(true);
    expect(memo.verify(other, 'c1', 'same input').equals(mac(key, 'same input'))).toBe(false);
  });

  it('is bounded: two generations of scopes, a few MACs per scope, the newest kept', () => {
    const key = createSecretKey(randomBytes(32));
    const memo = new MacMemo(3);
    for (let c = 0; c < 20; c++) for (let i = 0; i < 50; i++) memo.sign(key, `c${c}`, `in ${c} ${i}`);
    expect(memo.size).toBeLessThanOrEqual(6 * 8);
    expect(memo.verify(key, 'c19', 'in 19 49').equals(mac(key, 'in 19 49'))).toBe(true);
  });

  it('compares the whole input within a scope: another input of the same call is computed, not reused', () => {
    const key = createSecretKey(randomBytes(32));
    const memo = new MacMemo(4);
    const m = memo.sign(key, 'c1', 'input of c1');
    expect(memo.verify(key, 'c1', 'input of c1!').equals(m)).toBe(false);
    expect(memo.verify(key, 'c2', 'input of c1').equals(m)).toBe(true); // computed again: the same HMAC
  });
});

describe('route lines (route-lines.ts)', () => {
  const msg = req(`BYE sip:bob@192.0.2.20 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1
Route: <sip:SBC.example.net:5060;lr;ks-rsa=x>, <sip:10.0.0.2;lr;ftag=a1>
Route: "a hop" <sip:10.0.0.3;transport=tcp;lr>
From: <sip:alice@lab.example>;tag=a1
To: <sip:bob@lab.example>;tag=b1
Call-ID: c1
CSeq: 2 BYE
Content-Length: 0

`);

  it('are the canonical lines of the parsed list, signatures stripped, kept or not', () => {
    const cache = new RouteLineCache();
    const want = msg.routes().map((n) => canonicalUri(n.uri, true));
    expect(cache.lines(routeItems(msg, 'Route'), 'Route')).toEqual(want);
    expect(cache.size).toBe(3);
    expect(cache.lines(routeItems(msg, 'Route'), 'Route')).toEqual(want);
    expect(joinLines(want)).toEqual(routeLines(msg.routes().map((n) => n.uri)));
    expect(joinLines(want, true)).toEqual(routeLines(msg.routes().map((n) => n.uri).reverse()));
  });

  it('refuse a malformed element as the parser does, and never keep it', () => {
    const cache = new RouteLineCache();
    for (const bad of ['<sip:10.0.0.2;lr', '<sip:>', '<sip:a b;lr>', '<sip:10.0.0.2;lr>, , <sip:10.0.0.3;lr>']) {
      const m = msg.clone();
      m.set('Route', `<sip:10.0.0.1;lr>, ${bad}`);
      expect(() => m.routes()).toThrow(SipHeaderError);
      expect(() => cache.lines(routeItems(m, 'Route'), 'Route')).toThrow(SipHeaderError);
    }
    expect(cache.size).toBe(1);
  });

  it('are bounded, long elements not kept', () => {
    const cache = new RouteLineCache(2);
    for (let i = 0; i < 20; i++) cache.lines([`<sip:10.0.0.${i};lr>`], 'Route');
    expect(cache.size).toBeLessThanOrEqual(4);
    cache.lines([`<sip:h.example;lr;x=${'a'.repeat(300)}>`], 'Route');
    expect(cache.size).toBeLessThanOrEqual(4);
  });
});

describe('the signer with its memo and line cache, as an attacker sees it', () => {
  it('a check of an input signed here still compares the token: a changed MAC, a changed route set, another party fail', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtA } = call(signer);
    const bye = requestFromA(okAtA);
    expect(signer.verifyInDialogRequest(bye)).toMatchObject({ ok: true, side: 'caller' });
    const top = bye.routes()[0]!.uri as { params: Record<string, string> };
    const token = top.params[PARAM.rsCaller]!;
    // the first MAC character (the last one carries padding bits)
    const flipped = token.slice(0, 9) + (token[9] === 'A' ? 'B' : 'A') + token.slice(10);
    const raw = (m: typeof bye): string => m.getAll('Route').join(', ');
    const withRoute = (route: string): typeof bye => {
      const m = bye.clone();
      m.set('Route', route);
      return m;
    };
    // same input as the one signed (memo hit), another token
    expect(signer.verifyInDialogRequest(withRoute(raw(bye).replace(token, flipped)))).toMatchObject({ ok: false, reason: 'mismatch' });
    // the hops below ours changed: a hop seen before (kept line) moved, a new one added
    const hops = routeItems(bye, 'Route');
    expect(hops.length).toBeGreaterThan(2);
    expect(signer.verifyInDialogRequest(withRoute([hops[0], hops[2], hops[1], ...hops.slice(3)].join(', ')))).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(signer.verifyInDialogRequest(withRoute([...hops, '<sip:evil.example;lr>'].join(', ')))).toMatchObject({ ok: false, reason: 'mismatch' });
    // and the genuine request still passes after all that
    expect(signer.verifyInDialogRequest(requestFromA(okAtA))).toMatchObject({ ok: true, side: 'caller' });
  });
});
