import { describe, expect, it } from 'vitest';
import {
  parseMessage, serialize, createRequest, createResponse, formatAuth, formatVia, formatNameAddr, parseUri, formatUri,
  parseSecurity, formatSecurity, findMessageLength, type SipRequest, type SipUri,
} from '../../src/sip/index.js';

const wire = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

function parse(b: Buffer) {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(`${r.error.header}: ${r.error.reason}`);
  return r.message;
}

const REGISTER = wire(`REGISTER sip:lab.example SIP/2.0
Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK776asdhds;rport;received=2001:db8::9
Route: <sip:[2001:db8::5]:5060;lr;transport=udp>, <sip:sbc.lab.example;lr>
Record-Route: <sip:[2001:db8::7];lr>
Max-Forwards: 70
To: <sip:alice@lab.example>
From: "Alice Ä" <sip:alice@lab.example>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.lab.example
CSeq: 2 REGISTER
Contact: <sip:alice@[2001:db8::1]:5070;transport=udp>;expires=3600;q=0.7, <sip:alice@192.0.2.4>;expires=60
Authorization: KS1 username="alice@lab.example", realm="sbc1.lab.example", nonce="ab_-c", response="x\\"y", n1="n1v", n2="n2v", ts="1764097200"
Security-Client: tls-psk;q=0.5, app-hmac;q=0.3
Supported: path, outbound
Require: sec-agree
x: 1800
Content-Length: 0

`);

describe('codec', () => {
  it('reads IPv6 Via, Route, Record-Route and Contact', () => {
    const m = parse(REGISTER);
    const v = m.topVia()!;
    expect(v.host).toBe('2001:db8::1');
    expect(v.port).toBe(5070);
    expect(v.params.received).toBe('2001:db8::9');
    expect(v.params.rport).toBeNull();
    expect(formatVia(v)).toBe('SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK776asdhds;rport;received=2001:db8::9');
    const routes = m.routes();
    expect(routes).toHaveLength(2);
    expect((routes[0]!.uri as SipUri).host).toBe('2001:db8::5');
    expect((routes[0]!.uri as SipUri).port).toBe(5060);
    expect((routes[0]!.uri as SipUri).params.lr).toBeNull();
    expect(formatNameAddr(routes[0]!)).toBe('<sip:[2001:db8::5]:5060;lr;transport=udp>');
    expect((m.recordRoutes()[0]!.uri as SipUri).host).toBe('2001:db8::7');
    const contacts = m.contacts();
    expect(contacts).toHaveLength(2);
    expect(contacts.map((c) => c.params.expires)).toEqual(['3600', '60']);
    expect(m.get('Session-Expires')).toBe('1800');
    expect(m.from().displayName).toBe('Alice Ä');
  });

  it('reads the KS1 and Digest auth parameters with quoting and escapes', () => {
    const m = parse(REGISTER);
    const a = m.auth('Authorization')[0]!;
    expect(a.scheme).toBe('KS1');
    expect(a.params.username).toBe('alice@lab.example');
    expect(a.params.response).toBe('x"y');
    expect(a.params.ts).toBe('1764097200');
    const d = parse(wire(`SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx
To: <sip:a@b>;tag=1
From: <sip:a@b>;tag=2
Call-ID: c
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm="lab.example", qop="auth", nonce="abc", algorithm=SHA-256, stale=FALSE
Authentication-Info: KS1 n1="a", mech="tls-psk", mac="m"
Content-Length: 0

`));
    const w = d.auth('WWW-Authenticate')[0]!;
    expect(w.scheme).toBe('Digest');
    expect(w.params).toMatchObject({ realm: 'lab.example', qop: 'auth', nonce: 'abc', algorithm: 'SHA-256', stale: 'FALSE' });
    expect(d.authenticationInfo()).toMatchObject({ scheme: 'KS1', params: { n1: 'a', mech: 'tls-psk', mac: 'm' } });
    expect(formatAuth('KS1', { realm: 'r', nonce: 'a"b', algorithm: 'ks1' })).toBe('KS1 realm="r", nonce="a\\"b", algorithm=ks1');
    expect(() => parse(wire(`REGISTER sip:a SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=1\nCall-ID: c\nCSeq: 1 REGISTER\nAuthorization: KS1 username="a\nContent-Length: 0\n\n`)).auth('Authorization')).toThrow(/Authorization/);
  });

  it('reads RFC 3329 security lists and token lists', () => {
    const m = parse(REGISTER);
    const sc = m.security('Security-Client');
    expect(sc.map((s) => [s.mechanism, s.q])).toEqual([['tls-psk', 0.5], ['app-hmac', 0.3]]);
    expect(formatSecurity(sc)).toBe('tls-psk;q=0.5, app-hmac;q=0.3');
    expect(formatSecurity(parseSecurity(['ipsec-3gpp; alg=hmac-sha-1-96; spi-c=1; port-c=5062'], 'Security-Client'))).toBe('ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;port-c=5062');
    expect(m.tokens('Supported')).toEqual(['path', 'outbound']);
    expect(m.tokens('Require')).toEqual(['sec-agree']);
  });

  it('round-trips byte for byte and rewrites only what changed', () => {
    const m = parse(REGISTER);
    expect(serialize(m).equals(REGISTER)).toBe(true);
    const v = m.topVia()!;
    v.params.received = '2001:db8::2';
    m.setTopVia(v);
    m.set('Max-Forwards', '69');
    m.prepend('Via', 'SIP/2.0/UDP [2001:db8::100]:5060;branch=z9hG4bKnew');
    const out = serialize(m).toString('utf8');
    expect(out.split('\r\n').slice(0, 4)).toEqual([
      'REGISTER sip:lab.example SIP/2.0',
      'Via: SIP/2.0/UDP [2001:db8::100]:5060;branch=z9hG4bKnew',
      'Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK776asdhds;rport;received=2001:db8::2',
      'Route: <sip:[2001:db8::5]:5060;lr;transport=udp>, <sip:sbc.lab.example;lr>',
    ]);
    // every other line is as it was, names as written (the compact x stays x)
    const orig = REGISTER.toString('utf8').split('\r\n');
    const now = out.split('\r\n');
    expect(now.filter((l) => !l.startsWith('Via') && !l.startsWith('Max-Forwards'))).toEqual(orig.filter((l) => !l.startsWith('Via') && !l.startsWith('Max-Forwards')));
    // the response path: pop the top Via and the first Route element
    const r2 = parse(serialize(m));
    expect(r2.shift('Via')).toBe('SIP/2.0/UDP [2001:db8::100]:5060;branch=z9hG4bKnew');
    r2.shift('Route');
    expect(r2.routes().map((r) => (r.uri as SipUri).host)).toEqual(['sbc.lab.example']);
    expect(r2.vias()).toHaveLength(1);
  });

  it('keeps a multibyte UTF-8 body as bytes and computes Content-Length from them', () => {
    const body = Buffer.from('Grüße, 世界 👋\r\n', 'utf8');
    const req = createRequest('MESSAGE', 'sip:bob@lab.example', [
      ['Via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKabc'],
      ['To', '<sip:bob@lab.example>'],
      ['From', '<sip:alice@lab.example>;tag=1'],
      ['Call-ID', 'x1'],
      ['CSeq', '1 MESSAGE'],
      ['Content-Type', 'text/plain;charset=utf-8'],
    ], body);
    const b = serialize(req);
    expect(b.toString('latin1')).toContain(`Content-Length: ${body.length}\r\n`);
    expect(body.length).not.toBe('Grüße, 世界 👋\r\n'.length);
    const back = parse(b);
    expect(back.body.equals(body)).toBe(true);
    // a wrong Content-Length from the sender is corrected on the way out
    back.set('Content-Length', '3');
    expect(parse(serialize(back)).body.equals(body)).toBe(true);
  });

  it('truncates a datagram body longer than Content-Length and refuses a shorter one', () => {
    const head = `OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=1\nCall-ID: c\nCSeq: 1 OPTIONS\n`;
    const m = parse(Buffer.concat([wire(head + 'Content-Length: 4\n\n'), Buffer.from('abcdefgh')]));
    expect(m.body.toString()).toBe('abcd');
    const r = parseMessage(Buffer.concat([wire(head + 'Content-Length: 40\n\n'), Buffer.from('abcdefgh')]));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.header).toBe('Content-Length');
  });

  it('enforces size, header-count and line-length limits with an error, not a throw', () => {
    const head = `OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=1\nCall-ID: c\nCSeq: 1 OPTIONS\n`;
    const many = parseMessage(wire(head + 'X-A: 1\n'.repeat(300) + '\n'));
    expect(many.ok || many.error.reason).toBe('too many headers');
    const long = parseMessage(wire(head + 'X-A: ' + 'a'.repeat(9000) + '\n\n'));
    expect(long.ok || long.error.reason).toBe('line too long');
    const big = parseMessage(Buffer.concat([wire(head + '\n'), Buffer.alloc(70000, 97)]));
    expect(big.ok || big.error.status).toBe(513);
  });

  it('answers malformed headers with the partial message so a 400 can be built', () => {
    const r = parseMessage(wire(`INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=1\nCall-ID: c\nCSeq: x INVITE\nContent-Length: 0\n\n`));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.header).toBe('CSeq');
    const p = r.error.partial as SipRequest;
    const res = createResponse(p, 400, 'Bad CSeq');
    expect(serialize(res).toString()).toContain('CSeq: x INVITE\r\n');
    expect(res.topVia()!.params.branch).toBe('z9hG4bK1');
  });

  it('refuses a __proto__ parameter instead of dropping it', () => {
    const r = parseMessage(wire(`OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;__proto__=x\nTo: <sip:a@b>\nFrom: <sip:a@b>;tag=1\nCall-ID: c\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n`));
    expect(r.ok || r.error.header).toBe('Via');
    expect(() => parseUri('sip:a@b;__proto__')).toThrow();
  });

  it('parses and formats SIP URIs including IPv6, password, params and headers', () => {
    const u = parseUri('sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi&x=y') as SipUri;
    expect(u).toMatchObject({ scheme: 'sips', user: 'alice', password: 'secret', host: '2001:db8::1', port: 5061, headers: 'subject=hi&x=y' });
    expect(u.params.transport).toBe('tls');
    expect(formatUri(u)).toBe('sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi&x=y');
    expect(() => parseUri('sip:[2001:db8::1')).toThrow();
    expect(() => parseUri('sip:a@b:99999')).toThrow();
    expect(parseUri('tel:+1-201-555-0123')).toEqual({ scheme: 'tel', opaque: '+1-201-555-0123' });
  });

  it('frames a TCP stream by Content-Length and skips keep-alives', () => {
    const one = serialize(createRequest('OPTIONS', 'sip:a@b', [['Via', 'SIP/2.0/TCP h;branch=z9hG4bK1'], ['To', '<sip:a@b>'], ['From', '<sip:a@b>;tag=1'], ['Call-ID', 'c'], ['CSeq', '1 OPTIONS']], Buffer.from('hello')));
    expect(findMessageLength(Buffer.concat([Buffer.from('\r\n\r\n'), one]))).toEqual({ kind: 'keepalive', length: 4 });
    expect(findMessageLength(Buffer.concat([one, one]))).toEqual({ kind: 'message', length: one.length });
    expect(findMessageLength(one.subarray(0, one.length - 1))).toEqual({ kind: 'incomplete' });
    expect(findMessageLength(Buffer.from('INVITE x SIP/2.0\r\nl: -1\r\n\r\n')).kind).toBe('error');
  });

  it('keeps each structured view of a header apart: security() then tokens() of the same header', () => {
    const m = parse(Buffer.from(REGISTER.toString('utf8').replace('Security-Client: tls-psk;q=0.5, app-hmac;q=0.3', 'Security-Client: tls-psk, app-hmac')));
    expect(m.security('Security-Client').map((x) => x.mechanism)).toEqual(['tls-psk', 'app-hmac']);
    // the same header read as a token list is the list of its tokens, not the security view cached before
    expect(m.tokens('Security-Client')).toEqual(['tls-psk', 'app-hmac']);
    expect(m.security('Security-Client')[0]).toMatchObject({ mechanism: 'tls-psk' });
    // parameters are no tokens: that reading fails as it would have without the cache
    const q = parse(REGISTER);
    expect(q.security('Security-Client')).toHaveLength(2);
    expect(() => q.tokens('Security-Client')).toThrow(/Security-Client/);
    // and the other way round, on a fresh message; a change of the header drops both
    const n = parse(REGISTER);
    expect(n.tokens('Supported')).toEqual(['path', 'outbound']);
    expect(() => n.auth('Authorization')).not.toThrow();
    expect(n.tokens('Supported')).toEqual(['path', 'outbound']);
    n.set('Supported', 'timer');
    expect(n.tokens('Supported')).toEqual(['timer']);
  });

  it('the views read at arrival follow every change of their header, and a clone reads its own', () => {
    const m = parse(REGISTER) as SipRequest;
    expect(m.topVia()?.params.branch).toBe('z9hG4bK776asdhds');
    expect(m.from().params.tag).toBe('1928301774');
    expect(m.maxForwards()).toBe(70);
    m.prepend('Via', 'SIP/2.0/UDP 192.0.2.1:5060;Branch=z9hG4bKnew;RPORT');
    expect(m.vias()).toHaveLength(2);
    // parameter names are case-insensitive: stored lower-cased, the common ones too
    expect(m.topVia()?.params).toEqual({ branch: 'z9hG4bKnew', rport: null });
    m.set('From', '<sip:bob@lab.example>;TAG=xyz');
    expect(m.from().params.tag).toBe('xyz');
    m.set('To', '<sip:carol@lab.example>');
    expect(m.to().uri).toMatchObject({ user: 'carol' });
    m.set('Call-ID', 'other@host');
    expect(m.callId()).toBe('other@host');
    m.set('CSeq', '3 REGISTER');
    expect(m.cseq().seq).toBe(3);
    m.remove('Max-Forwards');
    expect(m.maxForwards()).toBeUndefined();
    m.set('Max-Forwards', '9');
    expect(m.maxForwards()).toBe(9);
    m.shift('Via');
    expect(m.topVia()?.params.branch).toBe('z9hG4bK776asdhds');
    const c = m.clone();
    c.set('Max-Forwards', '8');
    c.topVia()!.params.received = '198.51.100.1';
    expect(m.maxForwards()).toBe(9);
    expect(m.topVia()?.params.received).toBe('2001:db8::9');
    // a header that appears twice fails its view after a change as it would at arrival
    m.append('Call-ID', 'second@host');
    expect(() => m.callId()).toThrow(/Call-ID/);
    m.set('CSeq', 'x REGISTER');
    expect(() => m.cseq()).toThrow(/CSeq/);
  });

  it('a created response copies Via/From/To/Call-ID/CSeq and adds the To tag', () => {
    const m = parse(REGISTER) as SipRequest;
    const res = createResponse(m, 200, undefined, { toTag: 'abc' });
    expect(res.reason).toBe('OK');
    expect(res.to().params.tag).toBe('abc');
    expect(res.vias()).toHaveLength(1);
    expect(res.cseq()).toEqual({ seq: 2, method: 'REGISTER' });
    expect(parse(serialize(res)).callId()).toBe('a84b4c76e66710@pc33.lab.example');
  });
});
