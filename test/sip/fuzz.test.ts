/** Property tests: generated messages round-trip; hostile bytes never throw out of parse. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseMessage, serialize, createRequest, findMessageLength, type SipMessage } from '../../src/sip/index.js';

const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9\-.!%*_+`'~]{0,15}$/);
const host = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,3}$/),
  fc.ipV4(),
  fc.ipV6().filter((s) => !s.includes('.')),
);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const hostport = fc.tuple(host, port).map(([h, p]) => (h.includes(':') ? `[${h}]` : h) + (p ? `:${p}` : ''));
const display = fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n\x00-\x1f]/g, ''));
const body = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

const message = fc.record({
  method: fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'MESSAGE', 'BYE', 'SUBSCRIBE'),
  user: token,
  hp: hostport,
  viaHosts: fc.array(hostport, { minLength: 1, maxLength: 4 }),
  branch: token,
  tag: token,
  dn: display,
  callId: token,
  seq: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  extra: fc.array(fc.tuple(token, fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '').trim())), { maxLength: 6 }),
  body,
});

describe('fuzz', () => {
  it('generated well-formed messages round-trip with their values', () => {
    fc.assert(
      fc.property(message, (g) => {
        const headers: Array<[string, string]> = g.viaHosts.map((h, k) => ['Via', `SIP/2.0/UDP ${h};branch=z9hG4bK${g.branch}${k}`]);
        headers.push(['From', `"${g.dn.replace(/["\\]/g, '\\$&')}" <sip:${g.user}@${g.hp}>;tag=${g.tag}`]);
        headers.push(['To', `<sip:${g.user}@${g.hp}>`]);
        headers.push(['Call-ID', g.callId]);
        headers.push(['CSeq', `${g.seq} ${g.method}`]);
        headers.push(['Max-Forwards', '70']);
        for (const [n, v] of g.extra) headers.push(['X-' + n, v]);
        const req = createRequest(g.method, `sip:${g.user}@${g.hp}`, headers, g.body);
        const bytes = serialize(req);
        const r = parseMessage(bytes);
        if (!r.ok) throw new Error(`${r.error.header}: ${r.error.reason}\n${bytes.toString('latin1')}`);
        const m = r.message;
        expect(m.body.equals(g.body)).toBe(true);
        expect(m.vias().length).toBe(g.viaHosts.length);
        expect(m.from().displayName ?? '').toBe(g.dn);
        expect(m.from().params.tag).toBe(g.tag);
        expect(m.cseq().seq).toBe(g.seq);
        expect(m.callId()).toBe(g.callId);
        for (const [n, v] of g.extra) expect(m.getAll('X-' + n)).toContain(v);
        expect(serialize(m).equals(bytes)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  const sample = Buffer.from(
    'INVITE sip:bob@[2001:db8::1]:5060;transport=udp SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\n' +
      'From: "A" <sip:a@b>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.1>;expires=30, *\r\n' +
      'Route: <sip:p1;lr>, <sip:[::1];lr>\r\nAuthorization: KS1 username="a", n1="x\\"y"\r\nSecurity-Client: tls-psk;q=0.5\r\n' +
      'Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\r\n',
  );

  const touchAll = (m: SipMessage): void => {
    // every view either returns or throws SipHeaderError; nothing else
    const views: Array<() => unknown> = [
      () => m.vias(), () => m.from(), () => m.to(), () => m.callId(), () => m.cseq(), () => m.contacts(), () => m.routes(),
      () => m.recordRoutes(), () => m.maxForwards(), () => m.expires(), () => m.contentType(), () => m.auth('Authorization'),
      () => m.security('Security-Client'), () => m.tokens('Supported'), () => m.authenticationInfo(),
      () => (m.isRequest() ? m.requestUri() : undefined), () => serialize(m),
    ];
    for (const v of views) {
      try {
        v();
      } catch (e) {
        expect((e as Error).name).toBe('SipHeaderError');
      }
    }
  };

  it('random bytes never throw out of parse', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (a) => {
        const b = Buffer.from(a);
        const r = parseMessage(b);
        if (!r.ok) expect(r.error.internal).toBeFalsy();
        else touchAll(r.message);
        findMessageLength(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid messages never throw and never hit an internal error', () => {
    const mutation = fc.array(
      fc.record({ pos: fc.nat(sample.length - 1), kind: fc.constantFrom('set', 'del', 'ins'), byte: fc.constantFrom(0, 9, 10, 13, 32, 34, 44, 58, 59, 60, 62, 64, 91, 93, 92, 0xff, 0xc3, 65) }),
      { minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(mutation, (ms) => {
        let b = Buffer.from(sample);
        for (const m of ms) {
          const p = Math.min(m.pos, b.length - 1);
          if (m.kind === 'set') b[p] = m.byte;
          else if (m.kind === 'del') b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1)]);
          else b = Buffer.concat([b.subarray(0, p), Buffer.from([m.byte]), b.subarray(p)]);
        }
        const r = parseMessage(b);
        if (!r.ok) {
          expect(r.error.internal).toBeFalsy();
          if (r.error.partial) touchAll(r.error.partial);
        } else touchAll(r.message);
      }),
      { numRuns: 3000 },
    );
  });
});
