import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as k from '../../src/crypto/ks1.js';
import { appHmacTag, type Direction } from '../../src/crypto/app-hmac.js';

interface Vector {
  name: string;
  inputs: Record<string, string | number>;
  outputs: Record<string, string>;
}
const docsDir = new URL('../../docs/', import.meta.url);
const vectors: Vector[] = JSON.parse(readFileSync(new URL('crypto-ks1-vectors.json', docsDir), 'utf8')).vectors;
const doc = readFileSync(new URL('crypto-ks1.md', docsDir), 'utf8');
const hex = (s: string | number) => Buffer.from(String(s), 'hex');

describe('ks1 published test vectors', () => {
  it('has vectors', () => expect(vectors.length).toBeGreaterThanOrEqual(2));

  for (const v of vectors) {
    const i = v.inputs;
    const idc = String(i.idc);
    const idsp = String(i.idsp);
    const kc = hex(i.kc), ksp = hex(i.ksp), kcsp = hex(i.kcsp), rand = hex(i.rand);
    const vec = k.makeVector({ kc, ksp, idc, idsp, rand, sessionKey: kcsp, nonceKc: hex(i.nonceKc), nonceKsp: hex(i.nonceKsp) });
    const canonical = k.canonicalS10({
      idc, idsp, n1: hex(i.n1), n2: hex(i.n2), ts: Number(i.ts), ekc: vec.ekc, mech: String(i.mech), mechs: String(i.mechs),
    });
    const computed: Record<string, string> = {
      kAuth: k.deriveAuthKey(kc).toString('hex'),
      kWrapKc: k.deriveWrapKey(kc).toString('hex'),
      kWrapKsp: k.deriveWrapKey(ksp).toString('hex'),
      kMac: k.deriveMacKey(kcsp).toString('hex'),
      kAppHmac: k.deriveAppHmacKey(kcsp).toString('hex'),
      aad: k.wrapAad({ idc, idsp, rand }).toString('hex'),
      authenticator: vec.authenticator.toString('hex'),
      ekc: vec.ekc.toString('hex'),
      eksp: vec.eksp.toString('hex'),
      canonical,
      canonicalHex: Buffer.from(canonical, 'utf8').toString('hex'),
      mac: k.fm(kcsp, { idc, idsp, n1: hex(i.n1), n2: hex(i.n2), ts: Number(i.ts), ekc: vec.ekc, mech: String(i.mech), mechs: String(i.mechs) }).toString('hex'),
      appHmacTag: appHmacTag(k.deriveAppHmacKey(kcsp), i.appDir as Direction, Number(i.appSeq), hex(i.appMessage)).toString('hex'),
    };

    it(`${v.name}: every output recomputes from the inputs`, () => {
      expect(computed).toEqual(v.outputs);
    });

    it(`${v.name}: the document prints the same values as the JSON`, () => {
      for (const [name, value] of Object.entries(v.outputs)) {
        if (name === 'canonical') expect(doc).toContain('```\n' + value + '```');
        else expect(doc, name).toContain('`' + value + '`');
      }
      for (const value of Object.values(v.inputs)) expect(doc).toContain('`' + String(value) + '`');
    });

    it(`${v.name}: both wrapped keys open to Kc,sp with the right binding`, () => {
      expect(k.unwrap(kc, vec.ekc, { idc, idsp, rand })).toEqual(kcsp);
      expect(k.unwrap(ksp, vec.eksp, { idc, idsp, rand })).toEqual(kcsp);
    });

    it(`${v.name}: tampering fails to unwrap`, () => {
      const b = { idc, idsp, rand };
      expect(k.unwrap(kc, vec.ekc, { ...b, idc: idc + 'x' })).toBeUndefined();
      expect(k.unwrap(kc, vec.ekc, { ...b, idsp: 'sbc2.lab.example' })).toBeUndefined();
      const rand2 = Buffer.from(rand);
      rand2[0]! ^= 1;
      expect(k.unwrap(kc, vec.ekc, { ...b, rand: rand2 })).toBeUndefined();
      expect(k.unwrap(ksp, vec.ekc, b)).toBeUndefined(); // E_Kc does not open with Ksp
      for (const pos of [0, 12, 30, 59]) {
        const bad = Buffer.from(vec.ekc);
        bad[pos]! ^= 0x80;
        expect(k.unwrap(kc, bad, b), `byte ${pos}`).toBeUndefined();
      }
      expect(k.unwrap(kc, vec.ekc.subarray(0, 59), b)).toBeUndefined();
      expect(k.unwrap(kc, Buffer.concat([vec.ekc, Buffer.alloc(1)]), b)).toBeUndefined();
    });
  }
});

describe('ks1 helpers', () => {
  it('equalBytes is false for different lengths and contents, true for equal', () => {
    expect(k.equalBytes(Buffer.from('abc'), Buffer.from('abcd'))).toBe(false);
    expect(k.equalBytes(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
    expect(k.equalBytes(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(k.equalBytes(Buffer.alloc(0), Buffer.alloc(0))).toBe(true);
  });

  it('base64url round-trips and refuses padding, foreign characters and non-canonical forms', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const t = k.toB64u(bytes);
        expect(t).not.toMatch(/[=+/]/);
        expect(k.fromB64u(t)).toEqual(Buffer.from(bytes));
      }),
    );
    expect(k.fromB64u('AA==')).toBeUndefined();
    expect(k.fromB64u('A+/A')).toBeUndefined();
    expect(k.fromB64u('A')).toBeUndefined();
    expect(k.fromB64u('AB')).toBeUndefined(); // trailing bits not zero
    expect(k.fromB64u('AA')).toEqual(Buffer.from([0]));
    expect(k.fromB64u('AAAA', 2)).toBeUndefined();
  });

  it('fromB64u never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string(), fc.option(fc.nat(40), { nil: undefined }), (s, len) => {
      const r = k.fromB64u(s, len);
      if (r) expect(k.toB64u(r)).toBe(s);
    }));
  });

  it('canonicalS10 refuses line breaks in text fields and a bad ts', () => {
    const base = { idc: 'a', idsp: 'b', n1: Buffer.alloc(16), n2: Buffer.alloc(16), ts: 1, ekc: Buffer.alloc(60), mech: 'tls', mechs: 'tls' };
    expect(() => k.canonicalS10({ ...base, idc: 'a\nidsp=b' })).toThrow();
    expect(() => k.canonicalS10({ ...base, idsp: 'b\r' })).toThrow();
    expect(() => k.canonicalS10({ ...base, mech: 'x\ny' })).toThrow();
    expect(() => k.canonicalS10({ ...base, ts: 1.5 })).toThrow();
    expect(() => k.canonicalS10({ ...base, ts: -1 })).toThrow();
    expect(k.canonicalS10({ ...base, mechs: ' tls ;q=0.5 ,\tapp-hmac' })).toContain('mechs=tls;q=0.5,app-hmac\n');
  });

  it('keys of the wrong length are refused without showing them', () => {
    const short = Buffer.from('secretsecret');
    let msg = '';
    try {
      k.deriveAuthKey(short);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/32 bytes/);
    expect(msg).not.toContain('secret');
    expect(() => k.wrap(Buffer.alloc(32), Buffer.alloc(31), { idc: 'a', idsp: 'b', rand: Buffer.alloc(16) })).toThrow();
  });

  it('derived keys stay out of logs and JSON', () => {
    const s = new k.SessionKeys(Buffer.alloc(32, 7));
    expect(inspect(s)).toBe('[SessionKeys]');
    expect(JSON.stringify({ s })).toBe('{"s":"[SessionKeys]"}');
    expect(inspect(new k.TerminalKeys(Buffer.alloc(32, 7)))).toBe('[TerminalKeys]');
    expect(s.sessionKey).toEqual(Buffer.alloc(32, 7));
    expect(s.kMac).toEqual(k.deriveMacKey(Buffer.alloc(32, 7)));
    expect(s.kAppHmac).toEqual(k.deriveAppHmacKey(Buffer.alloc(32, 7)));
  });

  it('random keys and identities always round-trip through makeVector', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.string({ unit: 'grapheme', minLength: 1 }),
        fc.string({ minLength: 1 }),
        (kc, ksp, kcsp, rand, idc, idsp) => {
          const b = { idc, idsp, rand: Buffer.from(rand) };
          const v = k.makeVector({ kc: Buffer.from(kc), ksp: Buffer.from(ksp), sessionKey: Buffer.from(kcsp), ...b });
          expect(v.ekc.length).toBe(k.WRAPPED_LEN);
          expect(k.unwrap(Buffer.from(kc), v.ekc, b)).toEqual(Buffer.from(kcsp));
          expect(k.unwrap(Buffer.from(ksp), v.eksp, b)).toEqual(Buffer.from(kcsp));
          expect(k.equalBytes(k.f(Buffer.from(kc), b.rand, idc), v.authenticator)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});
