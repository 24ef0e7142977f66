import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import radius from 'radius';
import { describe, expect, it } from 'vitest';
import { HIDDEN_KS_ATTRS, KEYSWITCH_DICTIONARY, KEYSWITCH_VENDOR_ID, KsAttr, loadDictionary } from '../../src/radius/dictionary.js';
import { hideValue, unhideValue } from '../../src/radius/hiding.js';

interface Parsed {
  name: string;
  id: number;
  type: string;
  flags: string;
}

function parseAttributes(): Parsed[] {
  return readFileSync(KEYSWITCH_DICTIONARY, 'ascii')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.startsWith('ATTRIBUTE'))
    .map((l) => {
      const [, name, id, type, flags = ''] = l.split(/\s+/);
      return { name, id: Number(id), type, flags };
    });
}

describe('dictionary.keyswitch', () => {
  const attrs = parseAttributes();

  it('declares vendor 32473 and every attribute the code uses, with the same numbers', () => {
    expect(readFileSync(KEYSWITCH_DICTIONARY, 'ascii')).toMatch(/^VENDOR\s+keyswitch\s+32473\s*$/m);
    const byName = new Map(attrs.map((a) => [a.name.replace(/^Keyswitch-/, '').replace(/-/g, '').toLowerCase(), a.id]));
    for (const [key, id] of Object.entries(KsAttr)) expect(byName.get(key.toLowerCase()), key).toBe(id);
    expect(attrs).toHaveLength(Object.keys(KsAttr).length);
  });

  it('marks exactly the hidden values encrypt=2', () => {
    const hidden = attrs.filter((a) => a.flags.split(',').includes('encrypt=2')).map((a) => a.id);
    expect(new Set(hidden)).toEqual(HIDDEN_KS_ATTRS);
  });

  it('is what the radius package loaded', () => {
    loadDictionary();
    const r = radius as unknown as { load_dictionaries(): void; attr_name_to_id(n: string, v?: number): string | undefined; vendor_name_to_id(n: string): string };
    r.load_dictionaries();
    expect(Number(r.vendor_name_to_id('keyswitch'))).toBe(KEYSWITCH_VENDOR_ID);
    for (const a of attrs) expect(Number(r.attr_name_to_id(a.name, KEYSWITCH_VENDOR_ID)), a.name).toBe(a.id);
  });
});

describe('RFC 2868 hiding', () => {
  it('follows RFC 2868 §3.5 step by step and refuses a wrong secret', () => {
    const secret = Buffer.from('xyzzy5461');
    const ra = Buffer.from('0f403f9473978057bd83d5cb98f4227a', 'hex');
    const salt = Buffer.from('8a71', 'hex');
    const value = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    // P = len || value || zero padding to 16; b1 = MD5(S + R + A), c1 = p1 ^ b1; b2 = MD5(S + c1), c2 = p2 ^ b2.
    const p = Buffer.concat([Buffer.from([16]), value, Buffer.alloc(15)]);
    const md5 = (...parts: Buffer[]) => createHash('md5').update(Buffer.concat(parts)).digest();
    const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i]));
    const c1 = xor(p.subarray(0, 16), md5(secret, ra, salt));
    const c2 = xor(p.subarray(16, 32), md5(secret, c1));
    const hidden = hideValue(value, secret, ra, salt);
    expect(hidden.toString('hex')).toBe(Buffer.concat([salt, c1, c2]).toString('hex'));
    expect(unhideValue(hidden, secret, ra)?.equals(value)).toBe(true);
    expect(unhideValue(hidden, Buffer.from('other'), ra)).toBeUndefined();
    expect(() => hideValue(Buffer.alloc(1), secret, ra, Buffer.from('0a71', 'hex'))).toThrow(/high bit/);
  });
});
