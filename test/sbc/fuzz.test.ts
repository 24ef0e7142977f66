/** Hostile input on the untrusted ports never crashes the SBC; it still registers terminals afterwards. */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toB64u } from '../../src/crypto/ks1.js';
import { registerSip } from '../../src/terminal/register.js';
import { startLab, type Lab } from './setup.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab();
});
afterAll(() => lab.close());

const b64 = fc.uint8Array({ minLength: 0, maxLength: 70 }).map((u) => toB64u(Buffer.from(u)));
const junk = fc.string({ maxLength: 40 });
const param = fc.oneof(b64, junk, fc.integer().map(String), fc.constant(''));
const ks1 = fc
  .record({ username: fc.oneof(fc.constant('fuzz@lab.example'), junk), realm: fc.oneof(fc.constant('sbc1.lab.example'), junk), n1: param, n2: param, ts: param, nonce: param, response: param })
  .chain((p) => fc.subarray(Object.keys(p)).map((keys) => 'KS1 ' + keys.map((k) => `${k}="${String(p[k as keyof typeof p]).replace(/["\\\r\n]/g, '')}"`).join(', ')));
const extra = fc.array(
  fc.oneof(
    ks1.map((v) => `Authorization: ${v}`),
    fc.oneof(junk, fc.constant('tls-psk;q=0.5, app-hmac;q=0.3'), fc.constant('x;q=2')).map((v) => `Security-Client: ${v}`),
    fc.tuple(fc.nat(), b64).map(([s, m]) => `KS-HMAC: seq=${s}, mac="${m}"`),
    junk.map((v) => `KS-HMAC: ${v}`),
    junk.map((v) => `P-KS-Keys: ${v}`),
    fc.constantFrom('Max-Forwards: 0', 'Max-Forwards: abc', 'Expires: 0', 'Contact: *', 'Contact: <sip:[::1', 'Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx'),
    fc.tuple(fc.constantFrom('From', 'To', 'Call-ID', 'CSeq', 'Via', 'Content-Length', 'Route'), junk).map(([h, v]) => `${h}: ${v}`),
  ),
  { maxLength: 5 },
);
const method = fc.constantFrom('REGISTER', 'OPTIONS', 'INVITE', 'ACK', 'CANCEL', 'BYE', 'MESSAGE');
const uri = fc.constantFrom('sip:lab.example', 'sip:bob@lab.example', 'sip:127.0.0.1', 'sips:x@[::1]', 'tel:+1', 'sip:');

function message(m: string, u: string, lines: string[], proto: string, n: number): string {
  return [
    `${m} ${u} SIP/2.0`,
    `Via: SIP/2.0/${proto} 127.0.0.1:5999;branch=z9hG4bKfuzz${n};rport`,
    'Max-Forwards: 70',
    '<sip:fuzz@lab.example>;tag=f'.replace(/^/, 'From: '),
    'To: <sip:fuzz@lab.example>',
    `Call-ID: fuzz-${n}`,
    `CSeq: ${n} ${m}`,
    ...lines,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** `arb` once in `n` draws, else undefined. */
const sometimes = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: n - 1 }, { arbitrary: arb, weight: 1 });

/** A valid-looking message, sometimes with bytes flipped, cut short or spliced with random bytes. */
const datagram = (proto: string) =>
  fc.tuple(method, uri, extra, fc.nat(1e9), sometimes(fc.tuple(fc.nat(), fc.nat(255)), 4), sometimes(fc.nat(), 5), fc.uint8Array({ maxLength: 64 }))
    .map(([m, u, lines, n, flip, cut, noise]) => {
      let b = Buffer.from(message(m, u, lines, proto, n), 'utf8');
      if (flip) {
        b = Buffer.from(b);
        b[flip[0] % b.length] = flip[1];
      }
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      return noise.length && n % 3 === 0 ? Buffer.concat([b, Buffer.from(noise)]) : b;
    });

describe('fuzzing the untrusted ports', () => {
  it('UDP and TCP survive generated and mutated messages, and a terminal still registers', async () => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    let tcp: net.Socket | undefined;
    const tcpSend = async (b: Buffer): Promise<void> => {
      if (!tcp || tcp.destroyed) {
        tcp = net.connect({ host: '127.0.0.1', port: lab.sbc.ports.tcp! });
        tcp.on('error', () => undefined);
        tcp.on('data', () => undefined);
        await new Promise((r) => tcp!.once('connect', r));
      }
      tcp.write(b);
    };
    try {
      await fc.assert(
        fc.asyncProperty(datagram('UDP'), datagram('TCP'), fc.uint8Array({ maxLength: 300 }), async (u, t, raw) => {
          const send = (b: Uint8Array) => new Promise<void>((r) => udp.send(b, lab.sbc.ports.udp!, '127.0.0.1', () => r()));
          await send(u);
          await send(raw);
          await tcpSend(t);
          await new Promise((r) => setTimeout(r, 1));
        }),
        { numRuns: 400 },
      );
      await tcpSend(Buffer.from(randomBytes(2000)));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      udp.close();
      tcp?.destroy();
    }
    const stats = lab.sbc.stats();
    // enough got past the parser to exercise the proxy, not only the codec
    expect(stats.untrusted.requestsIn).toBeGreaterThan(50);
    expect(stats.untrusted.parseErrors).toBeGreaterThan(50);
    for (const transport of ['udp', 'tcp'] as const) {
      const idc = `after-fuzz-${transport}@lab.example`;
      const kc = lab.provision(idc);
      const r = await registerSip(lab.terminal(idc, kc, { transport, mechs: 'app-hmac;q=0.3', sbc: { host: '127.0.0.1', port: transport === 'udp' ? lab.sbc.ports.udp! : lab.sbc.ports.tcp! } }));
      expect(r).toMatchObject({ ok: true, mechanism: 'app-hmac' });
    }
  }, 60_000);
});
