/**
 * Stream transports under connection exhaustion (issue 8 item 6) and the TLS-PSK identity
 * oracle (item 7): per-source and global caps that count half-open TLS, a message deadline
 * a trickle does not extend, a handshake deadline, a short idle timeout for connections
 * that carried no registration or dialog and a long one for flows; an unknown PSK identity
 * fails the handshake exactly as a wrong key does. Each attack comes from its own sockets
 * and a legitimate peer is checked to still get through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import {
  createSipStack, createTcpTransport, createTlsTransport, createRequest, serialize, PSK_CIPHERS,
  type SipStack, type SipTransport, type TcpTransport,
} from '../../src/sip/index.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});
function track<T extends { close(): unknown }>(t: T): T {
  open.push(t);
  return t;
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
};

interface Client {
  sock: net.Socket;
  closed: boolean;
  data: string;
}
/** A raw TCP client from `localAddress`; resolves once connected (or closed at once). */
function raw(port: number, localAddress = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    const c: Client = { sock, closed: false, data: '' };
    track({ close: () => sock.destroy() });
    sock.on('data', (d) => (c.data += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      c.closed = true;
      resolve(c);
    });
    sock.on('connect', () => resolve(c));
  });
}

function message(method: string, n: number, extra: Array<[string, string]> = []): Buffer {
  return serialize(createRequest(method, 'sip:sbc@127.0.0.1', [
    ['Via', `SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKcl${n}`],
    ['To', '<sip:alice@lab.example>'], ['From', '<sip:alice@lab.example>;tag=1'], ['Call-ID', `cl${n}`], ['CSeq', `${n} ${method}`],
    ['Max-Forwards', '70'], ...extra,
  ]));
}

describe('stream connection caps', () => {
  it('TCP: a source past its cap is refused, other sources still connect', async () => {
    const t = track(await createTcpTransport({ maxConnectionsPerSource: 5, maxConnections: 100 }));
    const flood = await Promise.all(Array.from({ length: 8 }, () => raw(t.port, '127.0.0.1')));
    await until(() => flood.filter((c) => c.closed).length === 3);
    expect(t.stats()).toMatchObject({ refused: 3, refusedPerSource: 3 });
    const other = await raw(t.port, '127.0.0.2');
    await new Promise((r) => setTimeout(r, 100));
    expect(other.closed).toBe(false);
    // a refused one makes room for nobody else from the flooding source until one of its own closes
    flood.find((c) => !c.closed)!.sock.destroy();
    await until(() => t.stats().open === 5);
    expect((await raw(t.port, '127.0.0.1')).closed).toBe(false);
  });

  it('TLS: half-open connections count against the caps and are dropped at the handshake deadline', async () => {
    const key = Buffer.alloc(32, 3);
    const t = track(await createTlsTransport({
      maxConnections: 6, maxConnectionsPerSource: 4, handshakeTimeoutMs: 400,
      server: { pskCallback: (_s, id) => (id === 'alice' ? key : null), ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2' },
    }));
    // TCP connections that never start a handshake: past 4 from one address they are refused
    const idle = await Promise.all(Array.from({ length: 6 }, () => raw(t.port, '127.0.0.1')));
    await until(() => idle.filter((c) => c.closed).length === 2);
    expect(t.stats()).toMatchObject({ refusedPerSource: 2, open: 4 });
    // at the transport's cap (6) a newcomer takes the place of the oldest silent one
    const fromOther = await Promise.all(Array.from({ length: 3 }, () => raw(t.port, '127.0.0.3')));
    await until(() => idle.filter((c) => c.closed).length === 3);
    expect(fromOther.some((c) => c.closed)).toBe(false);
    expect(t.stats()).toMatchObject({ evicted: 1, open: 6 });
    // the handshake deadline closes the silent ones; a real client then gets in
    await until(() => idle.every((c) => c.closed) && fromOther.every((c) => c.closed));
    expect((t.stats() as Record<string, number>).handshakeTimeouts).toBe(6);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: t.port, ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: 'alice', psk: key }) });
      track({ close: () => s.destroy() });
      s.on('secureConnect', () => resolve(true));
      s.on('error', () => resolve(false));
    });
    expect(ok).toBe(true);
  });
});

describe('stream connections at the transport cap', () => {
  it('TLS: a client that completes its handshake gets in past a cap full of silent connections', async () => {
    const key = Buffer.alloc(32, 4);
    const t = track(await createTlsTransport({
      maxConnections: 5, handshakeTimeoutMs: 60_000,
      server: { pskCallback: (_s, id) => (id === 'alice' ? key : null), ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2' },
    }));
    const silent = await Promise.all(Array.from({ length: 5 }, (_, i) => raw(t.port, `127.0.1.${i + 1}`)));
    await until(() => t.stats().open === 5);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: t.port, ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: 'alice', psk: key }) });
      track({ close: () => s.destroy() });
      s.on('secureConnect', () => resolve(true));
      s.on('error', () => resolve(false));
    });
    expect(ok).toBe(true);
    expect(silent.filter((c) => c.closed)).toHaveLength(1);
    expect(silent[0]!.closed).toBe(true);
    expect(t.stats()).toMatchObject({ evicted: 1, refused: 0 });
  });

  it('TCP: a connection that delivered a message is never the one evicted', async () => {
    const t = track(await createTcpTransport({ maxConnections: 3 }));
    let messages = 0;
    t.onMessage = () => messages++;
    const talker = await raw(t.port, '127.0.2.1');
    talker.sock.write(message('OPTIONS', 1));
    await until(() => messages === 1);
    const quiet = await Promise.all([raw(t.port, '127.0.2.2'), raw(t.port, '127.0.2.3')]);
    await until(() => t.stats().open === 3);
    const newcomer = await raw(t.port, '127.0.2.4');
    await until(() => quiet[0]!.closed);
    expect(talker.closed).toBe(false);
    expect(quiet[1]!.closed).toBe(false);
    expect(newcomer.closed).toBe(false);
  });
});

describe('stream connection accounting', () => {
  it('every place is given back: evictions within one source, refusals, closes', async () => {
    const t = track(await createTcpTransport({ maxConnections: 3 }));
    const conns = [];
    for (let i = 0; i < 6; i++) conns.push(await raw(t.port, '127.0.3.1'));
    await until(() => t.stats().evicted >= 3);
    for (const c of conns) c.sock.destroy();
    await until(() => t.stats().open === 0);
    expect(t.stats()).toMatchObject({ sources: 0, connections: 0 });
  });
});

describe('stream deadlines and idle timeouts', () => {
  it('a message trickled a byte at a time is cut at the message deadline; whole messages go through', async () => {
    const t = track(await createTcpTransport({ messageTimeoutMs: 400, unboundIdleTimeoutMs: 60_000, idleTimeoutMs: 60_000 }));
    let messages = 0;
    t.onMessage = () => messages++;
    const slow = await raw(t.port);
    const good = await raw(t.port, '127.0.0.2');
    const bytes = message('OPTIONS', 1);
    let i = 0;
    const trickle = setInterval(() => {
      if (!slow.closed && i < bytes.length) slow.sock.write(bytes.subarray(i, ++i));
      if (!good.closed) good.sock.write(message('OPTIONS', 100 + i));
    }, 40);
    await until(() => slow.closed);
    clearInterval(trickle);
    // the trickle was still sending when it was cut: bytes did not extend the deadline
    expect(i).toBeLessThan(bytes.length);
    expect(t.stats()).toMatchObject({ messageTimeouts: 1 });
    expect(good.closed).toBe(false);
    expect(messages).toBeGreaterThan(0);
  });

  it('a connection with no registration or dialog closes when idle; a registered flow stays', async () => {
    const transport: TcpTransport = await createTcpTransport({ unboundIdleTimeoutMs: 300, idleTimeoutMs: 60_000 });
    const stack: SipStack = track(createSipStack({
      transports: [transport as SipTransport],
      onRequest: (req, ctx) => {
        if (req.method === 'REGISTER') ctx.respond(200, undefined, { toTag: 'r', headers: [['Contact', '<sip:alice@127.0.0.1;transport=tcp>;expires=3600']] });
        else ctx.respond(200, undefined, { toTag: 'o' });
      },
    }));
    void stack;
    const passerBy = await raw(transport.port);
    const registered = await raw(transport.port, '127.0.0.2');
    passerBy.sock.write(message('OPTIONS', 1));
    registered.sock.write(message('REGISTER', 2, [['Contact', '<sip:alice@127.0.0.2;transport=tcp>']]));
    await until(() => registered.data.includes('SIP/2.0 200'));
    await until(() => passerBy.closed);
    expect(passerBy.data).toContain('SIP/2.0 200');
    // the registered flow has been idle longer than a passer-by may be, and is still open
    await new Promise((r) => setTimeout(r, 400));
    expect(registered.closed).toBe(false);
    expect(transport.stats()).toMatchObject({ flows: 1, idleClosed: 1 });
    // it still carries traffic
    registered.sock.write(message('OPTIONS', 3));
    await until(() => registered.data.split('SIP/2.0 200').length === 3);
  });
});

describe('TLS-PSK identities', () => {
  it('an unknown identity fails the handshake with the same alert as a known one with a wrong key', async () => {
    const key = Buffer.alloc(32, 9);
    const t = track(await createTlsTransport({ server: { pskCallback: (_s, id) => (id === 'alice@lab.example' ? key : null), pskIdentityHint: 'sbc1', ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2' } }));
    const attempt = (identity: string, psk: Buffer) => new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: t.port, ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined, pskCallback: () => ({ identity, psk }) });
      track({ close: () => s.destroy() });
      s.on('secureConnect', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(`${e.code} ${/alert number (\d+)/.exec(e.message)?.[1]}`));
    });
    const wrongKey = await attempt('alice@lab.example', Buffer.alloc(32, 1));
    const unknown = await attempt('mallory@lab.example', Buffer.alloc(32, 1));
    // alert 20 (bad_record_mac); OpenSSL versions name its error code differently
    expect(wrongKey).toMatch(/^ERR_SSL_\S*BAD_RECORD_MAC 20$/);
    expect(unknown).toBe(wrongKey);
    expect(await attempt('alice@lab.example', key)).toBe('connected');
  });
});
