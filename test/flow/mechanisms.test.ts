import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chooseMechanism, formatMechanisms, mechanismList, parseMechanisms, type MechanismList } from '../../src/flow/index.js';

const parse = (t: string): MechanismList => {
  const r = parseMechanisms(t);
  if (!r.ok) throw new Error(r.error);
  return r.list;
};

describe('mechanism lists', () => {
  it('parses RFC 3329-style lists, keeping the text as sent', () => {
    const l = parse('tls-psk;q=0.5, app-hmac ; q=0.3,tls;d-alg="a,b";q=0.1');
    expect(l.items).toEqual([
      { name: 'tls-psk', q: 0.5 },
      { name: 'app-hmac', q: 0.3 },
      { name: 'tls', q: 0.1 },
    ]);
    expect(l.text).toBe('tls-psk;q=0.5, app-hmac ; q=0.3,tls;d-alg="a,b";q=0.1');
    expect(parse('tls').items).toEqual([{ name: 'tls', q: 1 }]);
    expect(parse('TLS;Q=1.000').items).toEqual([{ name: 'TLS', q: 1 }]);
  });

  it('refuses malformed lists', () => {
    for (const bad of ['', ',', 'tls;q=1.5', 'tls;q=0.1234', 'tls;q=.5', 'tls;q=0.5;q=0.4', 'tls;q', 'a b', 'tls;d="x', 'tls;=3', 'x,'.repeat(20) + 'x', 'a'.repeat(2000)]) {
      expect(parseMechanisms(bad).ok, bad).toBe(false);
    }
  });

  it('formats what it parses', () => {
    const items = [
      { name: 'tls-psk', q: 0.5 },
      { name: 'app-hmac', q: 0.3 },
    ];
    expect(formatMechanisms(items)).toBe('tls-psk;q=0.5, app-hmac;q=0.3');
    expect(parse(mechanismList(items).text).items).toEqual(items);
  });

  it('chooses the terminal’s highest allowed, ties in the terminal’s order, never q=0', () => {
    const allowed = ['tls-psk', 'app-hmac'];
    expect(chooseMechanism(parse('tls-psk;q=0.5, app-hmac;q=0.3'), allowed)?.name).toBe('tls-psk');
    expect(chooseMechanism(parse('tls-psk;q=0.3, app-hmac;q=0.5'), allowed)?.name).toBe('app-hmac');
    expect(chooseMechanism(parse('app-hmac;q=0.5, tls-psk;q=0.5'), allowed)?.name).toBe('app-hmac');
    expect(chooseMechanism(parse('tls;q=0.9, app-hmac;q=0.1'), allowed)?.name).toBe('app-hmac');
    expect(chooseMechanism(parse('APP-HMAC;q=0.2'), allowed)?.name).toBe('APP-HMAC');
    expect(chooseMechanism(parse('tls-psk;q=0, tls'), allowed)).toBeUndefined();
  });

  it('never throws on arbitrary text, and what it accepts has q within 0..1', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z;=q0-9., "-]{0,40}$/)), (t) => {
        const r = parseMechanisms(t);
        if (r.ok) for (const m of r.list.items) expect(m.q >= 0 && m.q <= 1).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
