/** Transports on loopback: UDP/TCP/TLS/TLS-PSK, IPv4 and IPv6, framing and limits. */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import forge from 'node-forge';
import {
  createUdpTransport, createTcpTransport, createTlsTransport, createRequest, serialize,
  type SipTransport, type MessageSource, type SipRequest, type TlsTransport,
} from '../../src/sip/index.js';
import type { ParseResult } from '../../src/sip/index.js';

const open: SipTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});
async function track<T extends SipTransport>(p: Promise<T>): Promise<T> {
  const t = await p;
  open.push(t);
  return t;
}

function options(n: number, proto = 'UDP', host = '127.0.0.1'): Buffer {
  return serialize(createRequest('OPTIONS', 'sip:x@example.com', [
    ['Via', `SIP/2.0/${proto} ${host.includes(':') ? `[${host}]` : host}:5060;branch=z9hG4bKt${n}`],
    ['To', '<sip:x@example.com>'], ['From', '<sip:y@example.com>;tag=1'], ['Call-ID', `c${n}`], ['CSeq', `${n} OPTIONS`], ['Max-Forwards', '70'],
  ], Buffer.from(`body ${n} é`)));
}

function collect(t: SipTransport): Array<{ r: ParseResult; src: MessageSource }> {
  const got: Array<{ r: ParseResult; src: MessageSource }> = [];
  t.onMessage = (r, src) => got.push({ r, src });
  return got;
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};

let cert = '';
let key = '';
beforeAll(() => {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const c = forge.pki.createCertificate();
  c.publicKey = keys.publicKey;
  c.serialNumber = '01';
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 3600_000);
  const attrs = [{ name: 'commonName', value: 'sbc.test' }];
  c.setSubject(attrs);
  c.setIssuer(attrs);
  c.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: 'sbc.test' }, { type: 7, ip: '127.0.0.1' }] }]);
  c.sign(keys.privateKey, forge.md.sha256.create());
  cert = forge.pki.certificateToPem(c);
  key = forge.pki.privateKeyToPem(keys.privateKey);
});

describe('transports', () => {
  it.each(['127.0.0.1', '::1'])('UDP on %s delivers each message once with its source', async (host) => {
    const a = await track(createUdpTransport({ host }));
    const b = await track(createUdpTransport({ host }));
    const got = collect(b);
    await a.send(options(1, 'UDP', host), { address: host, port: b.port });
    await until(() => got.length === 1);
    const { r, src } = got[0]!;
    expect(r.ok && r.message.body.toString()).toBe('body 1 é');
    expect(src).toMatchObject({ protocol: 'udp', address: host, port: a.port });
    expect(b.family).toBe(host.includes(':') ? 'IPv6' : 'IPv4');
  });

  it.each(['127.0.0.1', '::1'])('TCP on %s frames pipelined and split messages and reuses the connection', async (host) => {
    const srv = await track(createTcpTransport({ host }));
    const got = collect(srv);
    const raw = Buffer.concat([options(1, 'TCP', host), Buffer.from('\r\n\r\n'), options(2, 'TCP', host), options(3, 'TCP', host)]);
    const sock = net.connect({ host, port: srv.port });
    await new Promise((r) => sock.once('connect', r));
    const pong: Buffer[] = [];
    sock.on('data', (d) => pong.push(d));
    // dribble the bytes in small pieces to exercise reassembly
    for (let i = 0; i < raw.length; i += 37) {
      sock.write(raw.subarray(i, i + 37));
      await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => got.length === 3);
    expect(got.map((g) => g.r.ok && (g.r.message as SipRequest).cseq().seq)).toEqual([1, 2, 3]);
    expect(new Set(got.map((g) => g.src.connection!.id)).size).toBe(1);
    await until(() => Buffer.concat(pong).toString() === '\r\n'); // RFC 5626 pong
    // a reply goes back on the same connection
    await srv.send(options(9, 'TCP', host), { address: got[0]!.src.address, port: got[0]!.src.port, connection: got[0]!.src.connection! });
    await until(() => Buffer.concat(pong).includes('CSeq: 9 OPTIONS'));
    sock.destroy();
  });

  it('TCP: messages sent in one turn (held and written together) arrive whole and in order, on a new and on an open connection', async () => {
    const received: Buffer[] = [];
    const sockets: net.Socket[] = [];
    const peer = net.createServer((s) => {
      sockets.push(s);
      s.on('data', (d) => received.push(d));
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    try {
      const t = await track(createTcpTransport({ host: '127.0.0.1' }));
      const msgs = Array.from({ length: 100 }, (_, i) => options(i, 'TCP'));
      // 50 in one turn while the connection is being made, then 50 in one turn on it, then one alone
      await Promise.all(msgs.slice(0, 50).map((m) => t.send(m, { address: '127.0.0.1', port })));
      await Promise.all(msgs.slice(50).map((m) => t.send(m, { address: '127.0.0.1', port })));
      const last = options(100, 'TCP');
      await t.send(last, { address: '127.0.0.1', port });
      const want = Buffer.concat([...msgs, last]);
      await until(() => Buffer.concat(received).length >= want.length);
      expect(Buffer.concat(received).equals(want)).toBe(true);
      expect(t.connections()).toBe(1);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => peer.close(r));
    }
  });

  it('TCP: a transport bound to one address connects from it (a peer that trusts that address sees it), a wildcard one from any', async () => {
    const srv = await track(createTcpTransport({ host: '127.0.0.1' }));
    const got = collect(srv);
    const bound = await track(createTcpTransport({ host: '127.0.0.3' }));
    await bound.send(options(1, 'TCP', '127.0.0.3'), { address: '127.0.0.1', port: srv.port });
    const wild = await track(createTcpTransport({ host: '0.0.0.0' }));
    await wild.send(options(2, 'TCP'), { address: '127.0.0.1', port: srv.port });
    await until(() => got.length === 2);
    const from = (seq: number) => got.find((g) => g.r.ok && (g.r.message as SipRequest).cseq().seq === seq)!.src;
    expect([from(1).address, from(2).address]).toEqual(['127.0.0.3', '127.0.0.1']);
    // and it is not the listening port the connection leaves from
    expect(from(1).port).not.toBe(bound.port);
  });

  it('TCP closes a connection that exceeds the size limit or breaks framing, and caps connections', async () => {
    const srv = await track(createTcpTransport({ limits: { maxMessageSize: 2000 }, maxConnections: 2 }));
    collect(srv);
    const s1 = net.connect({ host: '127.0.0.1', port: srv.port });
    await new Promise((r) => s1.once('connect', r));
    const closed = new Promise((r) => s1.once('close', r));
    s1.write(Buffer.alloc(3000, 65));
    await closed;
    expect(srv.stats().framingErrors).toBe(1);
    const conns = await Promise.all([0, 1, 2].map(() => new Promise<net.Socket>((res) => {
      const s = net.connect({ host: '127.0.0.1', port: srv.port }, () => res(s));
      s.on('error', () => undefined);
    })));
    // at the cap, the oldest connection that has sent nothing makes room for the newcomer
    await until(() => srv.stats().evicted === 1 && srv.stats().connections === 2);
    expect(srv.stats().refused).toBe(0);
    conns.forEach((s) => s.destroy());
  });

  it('TCP closes idle connections', async () => {
    const srv = await track(createTcpTransport({ idleTimeoutMs: 50 }));
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('close', r));
    expect(srv.stats().idleClosed).toBe(1);
  });

  it('TLS with a certificate: client verifies the server and messages flow both ways', async () => {
    const srv = await track(createTlsTransport({ server: { key, cert } }));
    const cli = await track(createTlsTransport({ client: { ca: cert, servername: 'sbc.test' } }));
    const got = collect(srv);
    const back = collect(cli);
    await cli.send(options(1, 'TLS'), { address: '127.0.0.1', port: srv.port });
    await until(() => got.length === 1);
    expect(got[0]!.src.protocol).toBe('tls');
    await srv.send(options(2, 'TLS'), { address: got[0]!.src.address, port: got[0]!.src.port, connection: got[0]!.src.connection! });
    await until(() => back.length === 1);
    // a client that does not trust the certificate fails
    const wrong = await track(createTlsTransport({ client: {} }));
    await expect(wrong.send(options(3, 'TLS'), { address: '127.0.0.1', port: srv.port })).rejects.toThrow();
  });

  const kcsp = Buffer.alloc(32, 0x42);
  const psk = (maxVersion: 'TLSv1.2' | 'TLSv1.3') => ({
    pskCallback: (_s: unknown, identity: string) => (identity === 'alice@lab.example' ? kcsp : null),
    pskIdentityHint: 'sbc1.lab.example',
    minVersion: maxVersion,
    maxVersion,
    ...(maxVersion === 'TLSv1.3' ? { ciphers: 'TLS_AES_128_GCM_SHA256' } : {}),
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('TLS-PSK %s: the identity reaches the upper layer; a wrong key fails the handshake', async (v) => {
    const srv = (await track(createTlsTransport({ server: psk(v) }))) as TlsTransport;
    const got = collect(srv);
    const tlsOpts = v === 'TLSv1.3' ? { minVersion: v, maxVersion: v, ciphers: 'TLS_AES_128_GCM_SHA256' } : { minVersion: v, maxVersion: v };
    const good = await track(createTlsTransport({ client: { psk: { identity: 'alice@lab.example', key: kcsp }, ...tlsOpts } }));
    await good.send(options(1, 'TLS'), { address: '127.0.0.1', port: srv.port });
    await until(() => got.length === 1);
    expect(got[0]!.src.pskIdentity).toBe('alice@lab.example');
    expect(got[0]!.src.connection!.pskIdentity).toBe('alice@lab.example');
    const bad = await track(createTlsTransport({ client: { psk: { identity: 'alice@lab.example', key: Buffer.alloc(32, 1) }, ...tlsOpts } }));
    await expect(bad.send(options(2, 'TLS'), { address: '127.0.0.1', port: srv.port })).rejects.toThrow();
    const unknown = await track(createTlsTransport({ client: { psk: { identity: 'mallory', key: kcsp }, ...tlsOpts } }));
    await expect(unknown.send(options(3, 'TLS'), { address: '127.0.0.1', port: srv.port })).rejects.toThrow();
    await until(() => srv.handshakeFailures >= 2);
    expect(got).toHaveLength(1);
  });
});
