/**
 * The edges of the parser's fast paths (docs/performance.md, "SBC and SIP stack (session 8)"):
 * literal auth-param names, literal Via protocol and transport, ports read digit by digit,
 * and header values cut after the white space that follows the colon. Each reads what the
 * general path read before.
 */
import { describe, expect, it } from 'vitest';
import { parseAuth, parseMessage, parseUri, parseVia, type SipUri } from '../../src/sip/index.js';

const wire = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');

function parse(b: Buffer) {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(`${r.error.header}: ${r.error.reason}`);
  return r.message;
}

describe('parser fast paths', () => {
  it('auth-param names: the usual ones and any spelling of them land on the lower-cased key', () => {
    const a = parseAuth('Digest USERNAME="u", Realm="r", nonce="n", URI="sip:a", response="x", Algorithm=MD5, cnonce="c", opaque="o", qop=auth, NC=00000001', 'Authorization');
    expect(a.params).toEqual({ username: 'u', realm: 'r', nonce: 'n', uri: 'sip:a', response: 'x', algorithm: 'MD5', cnonce: 'c', opaque: 'o', qop: 'auth', nc: '00000001' });
    const k = parseAuth('KS1 username="a", N1="x", n2="y", TS="1", Stale=false, domain="d", Other-Param="z"', 'Authorization');
    expect(k.params).toEqual({ username: 'a', n1: 'x', n2: 'y', ts: '1', stale: 'false', domain: 'd', 'other-param': 'z' });
  });

  it('auth-param names: a usual name twice in two spellings is a duplicate; __proto__ is refused', () => {
    expect(() => parseAuth('Digest username="a", USERNAME="b"', 'Authorization')).toThrow(/duplicate auth-param "username"/);
    expect(() => parseAuth('Digest nc=1, nc=2', 'Authorization')).toThrow(/duplicate/);
    expect(() => parseAuth('Digest __PROTO__="x"', 'Authorization')).toThrow(/reserved/);
  });

  it('Via: protocol and transport upper-cased whatever their spelling', () => {
    for (const [text, protocol, transport] of [
      ['SIP/2.0/UDP h', 'SIP/2.0', 'UDP'],
      ['sip/2.0/udp h', 'SIP/2.0', 'UDP'],
      ['Sip / 2.0 / Tcp h', 'SIP/2.0', 'TCP'],
      ['SIP/2.0/tls h', 'SIP/2.0', 'TLS'],
      ['SIP/2.0/WSS h', 'SIP/2.0', 'WSS'],
      ['SIP/2.0/sctp h', 'SIP/2.0', 'SCTP'],
      ['SIP/3.0/UDP h', 'SIP/3.0', 'UDP'],
      ['foo/2.0/UDP h', 'FOO/2.0', 'UDP'],
    ] as const) {
      const v = parseVia(text);
      expect([v.protocol, v.transport]).toEqual([protocol, transport]);
    }
    for (const bad of ['SIP/2.0/U@P h', 'SIP/2.0/', 'S;P/2.0/UDP h', 'SIP/2"0/UDP h', 'SIP//UDP h']) expect(() => parseVia(bad), bad).toThrow(/sent-protocol/);
  });

  it('ports: read digit by digit with the same bounds (1 to 5 digits, at most 65535, leading zeros allowed)', () => {
    expect(parseVia('SIP/2.0/UDP h:65535;branch=z9hG4bKa').port).toBe(65535);
    expect(parseVia('SIP/2.0/UDP h:00080').port).toBe(80);
    expect(parseVia('SIP/2.0/UDP h : 5060').port).toBe(5060);
    expect(parseVia('SIP/2.0/UDP h:0').port).toBe(0);
    for (const bad of ['SIP/2.0/UDP h:65536', 'SIP/2.0/UDP h:000080', 'SIP/2.0/UDP h:', 'SIP/2.0/UDP h:;branch=x', 'SIP/2.0/UDP h:99999']) {
      expect(() => parseVia(bad), bad).toThrow(/port/);
    }
    expect(() => parseVia('SIP/2.0/UDP h:50x')).toThrow(/Via/);
    expect((parseUri('sip:a@h:65535') as SipUri).port).toBe(65535);
    expect((parseUri('sip:h:007;lr') as SipUri).port).toBe(7);
    expect((parseUri('sip:[2001:db8::1]:5061') as SipUri).port).toBe(5061);
    for (const bad of ['sip:h:65536', 'sip:h:', 'sip:h:123456', 'sip:h:;lr', 'sip:a@h:5x']) expect(() => parseUri(bad), bad).toThrow(/port|trailing/);
  });

  it('header values: white space after the colon goes, white space before a folded line stays as before', () => {
    const m = parse(wire(`OPTIONS sip:a@b SIP/2.0
Via: SIP/2.0/UDP h;branch=z9hG4bKx
To:<sip:a@b>
From: \t <sip:a@b>;tag=1
Call-ID:   c1
CSeq: 1 OPTIONS
Subject: a  \t
 b
X-Empty:
X-Blank:  \t 
X-Fold:
  folded
X-Nbsp: \xa0v\xa0
Content-Length: 0

`));
    expect(m.to().uri).toMatchObject({ user: 'a', host: 'b' });
    expect(m.get('From')).toBe('<sip:a@b>;tag=1');
    expect(m.callId()).toBe('c1');
    expect(m.get('Subject')).toBe('a  \t b');
    expect(m.get('X-Empty')).toBe('');
    expect(m.get('X-Blank')).toBe('');
    expect(m.get('X-Fold')).toBe('folded');
    expect(m.get('X-Nbsp')).toBe('v');
  });
});
