/** Transactions and the stack over real loopback sockets, with fast timers. */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import {
  createSipStack, createUdpTransport, createTcpTransport, createRequest, createResponse, createCancel, createAckFor2xx, parseMessage, serialize,
  type SipStack, type SipRequest, type SipResponse, type ServerContext,
} from '../../src/sip/index.js';

const fast = { T1: 20, T2: 80, T4: 100 };
const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

async function pair(onRequest: (req: SipRequest, ctx: ServerContext) => void, protocol: 'udp' | 'tcp' = 'udp') {
  const mk = protocol === 'udp' ? () => createUdpTransport() : () => createTcpTransport();
  const server = createSipStack({ transports: [await mk()], onRequest, timers: fast });
  const client = createSipStack({ transports: [await mk()], onRequest: () => undefined, timers: fast });
  stacks.push(server, client);
  return { server, client, port: server.transports[0]!.port };
}

function register(port: number, protocol = 'udp', cseq = 1): SipRequest {
  return createRequest('REGISTER', `sip:127.0.0.1:${port}${protocol === 'tcp' ? ';transport=tcp' : ''}`, [
    ['To', '<sip:alice@lab.example>'],
    ['From', '<sip:alice@lab.example>;tag=abc'],
    ['Call-ID', 'reg-' + Math.random()],
    ['CSeq', `${cseq} REGISTER`],
    ['Contact', '<sip:alice@127.0.0.1>'],
  ]);
}

describe('stack', () => {
  it.each(['udp', 'tcp'] as const)('REGISTER → 401 → REGISTER → 200 over %s', async (protocol) => {
    const seen: string[] = [];
    const { client, port } = await pair((req, ctx) => {
      seen.push(req.auth('Authorization').length ? 'auth' : 'noauth');
      if (!req.get('Authorization')) ctx.respond(401, undefined, { toTag: 't1', headers: [['WWW-Authenticate', 'KS1 realm="sbc1", nonce="n"']] });
      else ctx.respond(200, undefined, { toTag: 't2' });
    }, protocol);
    const r1 = await client.send(register(port, protocol));
    expect(r1.status).toBe(401);
    expect(r1.auth('WWW-Authenticate')[0]!.params.nonce).toBe('n');
    const second = register(port, protocol, 2);
    second.set('Authorization', 'KS1 username="alice@lab.example", response="r"');
    const r2 = await client.send(second);
    expect(r2.status).toBe(200);
    expect(seen).toEqual(['noauth', 'auth']);
    // our Via was pushed with a strong branch and rport
    const via = r2.topVia()!;
    expect(via.params.branch).toMatch(/^z9hG4bK[A-Za-z0-9_-]{11,}/);
  });

  it('absorbs UDP retransmissions: the handler runs once, the last response is resent', async () => {
    let calls = 0;
    const { port } = await pair((_req, ctx) => {
      calls++;
      ctx.respond(200, undefined, { toTag: 'x' });
    });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: SipResponse[] = [];
    sock.on('message', (b) => {
      const r = parseMessage(b);
      if (r.ok && r.message.isResponse()) got.push(r.message);
    });
    const req = register(port);
    const localPort = sock.address().port;
    req.prepend('Via', `SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKretrans1;rport`);
    const bytes = serialize(req);
    for (let k = 0; k < 3; k++) {
      sock.send(bytes, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 30));
    }
    await new Promise((r) => setTimeout(r, 50));
    sock.close();
    expect(calls).toBe(1);
    expect(got.length).toBe(3);
    expect(got.every((g) => g.status === 200)).toBe(true);
    // RFC 3581: rport filled in and received added
    expect(got[0]!.topVia()!.params.rport).toBe(String(localPort));
    expect(got[0]!.topVia()!.params.received).toBe('127.0.0.1');
  });

  it('retransmits a non-INVITE over UDP (Timer E) and times out with a local 408 (Timer F)', async () => {
    const sink = dgram.createSocket('udp4');
    let received = 0;
    sink.on('message', () => received++);
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const client = createSipStack({ transports: [await createUdpTransport()], onRequest: () => undefined, timers: fast });
    stacks.push(client);
    const res = await client.send(register(sink.address().port));
    sink.close();
    expect(res.status).toBe(408);
    expect(res.localReason).toBe('timeout');
    expect(received).toBeGreaterThan(3);
    expect(client.stats().timeouts).toBe(1);
  });

  it('INVITE: 100 Trying, 180, 200; ACK for 2xx reaches the UAS and stops 2xx retransmission', async () => {
    let ackSeen: SipRequest | undefined;
    const { client, port } = await pair((req, ctx) => {
      if (req.method === 'ACK') {
        ackSeen = req;
        return;
      }
      ctx.respond(180, undefined, { toTag: 'callee' });
      setTimeout(() => ctx.respond(200, undefined, { toTag: 'callee', headers: [['Contact', `<sip:bob@127.0.0.1:${port}>`]] }), 10);
    });
    const provisional: number[] = [];
    const invite = createRequest('INVITE', `sip:bob@127.0.0.1:${port}`, [
      ['To', '<sip:bob@lab.example>'], ['From', '<sip:alice@lab.example>;tag=a'], ['Call-ID', 'inv1'], ['CSeq', '1 INVITE'],
    ]);
    const res = await client.send(invite, { onResponse: (r) => provisional.push(r.status) });
    expect(res.status).toBe(200);
    expect(provisional).toContain(180);
    expect(provisional).toContain(100);
    // no ACK yet: the UAS retransmits its 2xx (T1 = 20 ms), seen as extra 2xx by the client
    await new Promise((r) => setTimeout(r, 70));
    const retransmitted = provisional.filter((s) => s === 200).length;
    expect(retransmitted).toBeGreaterThan(0);
    await client.sendStateless(createAckFor2xx(invite, res));
    await new Promise((r) => setTimeout(r, 30));
    const afterAck = provisional.filter((s) => s === 200).length;
    await new Promise((r) => setTimeout(r, 200));
    expect(provisional.filter((s) => s === 200).length).toBe(afterAck);
    expect(ackSeen?.method).toBe('ACK');
    expect(ackSeen?.to().params.tag).toBe('callee');
  });

  it('INVITE rejected with 486: the client transaction ACKs it and the server absorbs the ACK', async () => {
    let handled = 0;
    const { client, server, port } = await pair((req, ctx) => {
      handled++;
      ctx.respond(486, undefined, { toTag: 'busy' });
    });
    const invite = createRequest('INVITE', `sip:bob@127.0.0.1:${port}`, [
      ['To', '<sip:bob@lab.example>'], ['From', '<sip:alice@lab.example>;tag=a'], ['Call-ID', 'inv2'], ['CSeq', '1 INVITE'],
    ]);
    const res = await client.send(invite);
    expect(res.status).toBe(486);
    await new Promise((r) => setTimeout(r, 50));
    expect(handled).toBe(1); // the ACK was absorbed by the server transaction, not delivered
    expect(server.stats().retransmissionsAbsorbed).toBeGreaterThanOrEqual(1);
  });

  it('CANCEL: 200 for the CANCEL and 487 for the INVITE', async () => {
    const { client, port } = await pair((_req, ctx) => {
      ctx.respond(180, undefined, { toTag: 'r' });
    });
    const invite = createRequest('INVITE', `sip:bob@127.0.0.1:${port}`, [
      ['To', '<sip:bob@lab.example>'], ['From', '<sip:alice@lab.example>;tag=a'], ['Call-ID', 'inv3'], ['CSeq', '1 INVITE'],
    ]);
    let cancelRes: Promise<SipResponse> | undefined;
    const final = client.send(invite, {
      onResponse: (r) => {
        if (r.status !== 180 || cancelRes) return;
        cancelRes = client.send(createCancel(invite), { noVia: true });
      },
    });
    const res = await final;
    expect(res.status).toBe(487);
    expect((await cancelRes!).status).toBe(200);
  });

  it('a next hop that rang and ignores the CANCEL: the INVITE ends 408 after 64·T1 and its transaction is gone', async () => {
    // a hostile or broken callee: 180 to the INVITE, then silence, the CANCEL unanswered too
    const callee = dgram.createSocket('udp4');
    await new Promise<void>((r) => callee.bind(0, '127.0.0.1', () => r()));
    let cancels = 0;
    callee.on('message', (b, rinfo) => {
      const p = parseMessage(b);
      if (!p.ok || !p.message.isRequest()) return;
      const req = p.message as SipRequest;
      if (req.method === 'CANCEL') cancels++;
      if (req.method !== 'INVITE') return;
      callee.send(serialize(createResponse(req, 180, undefined, { toTag: 'b' })), rinfo.port, rinfo.address);
    });
    const client = createSipStack({ transports: [await createUdpTransport()], onRequest: () => undefined, timers: fast });
    stacks.push(client);
    try {
      const invite = createRequest('INVITE', `sip:bob@127.0.0.1:${callee.address().port}`, [
        ['To', '<sip:bob@lab.example>'], ['From', '<sip:alice@lab.example>;tag=a'], ['Call-ID', 'inv-ignored-cancel'], ['CSeq', '1 INVITE'],
      ]);
      let cancelled = false;
      const final = client.send(invite, {
        onResponse: (r) => {
          if (r.status !== 180 || cancelled) return;
          cancelled = true;
          client.send(createCancel(invite), { noVia: true }).catch(() => undefined);
        },
      });
      const res = await Promise.race([final, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      expect(res?.status).toBe(408);
      expect(cancels).toBeGreaterThan(0);
      const end = Date.now() + 5000;
      while (client.stats().clientTransactions > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(client.stats().clientTransactions).toBe(0);
    } finally {
      callee.close();
    }
  });

  it('answers a request with a malformed header 400 naming it, and drops garbage with a counter', async () => {
    const { server, port } = await pair(() => undefined);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const reply = new Promise<SipResponse>((resolve) => sock.on('message', (b) => {
      const r = parseMessage(b);
      if (r.ok && r.message.isResponse()) resolve(r.message);
    }));
    sock.send(Buffer.from(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bKbad\r\nTo: <sip:x@y>\r\nFrom: <sip:x@y>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: lots\r\nContent-Length: 0\r\n\r\n`), port, '127.0.0.1');
    const res = await reply;
    expect(res.status).toBe(400);
    expect(res.reason).toBe('Bad Max-Forwards');
    expect(res.get('Warning')).toContain('Max-Forwards');
    sock.send(Buffer.from('\x00\x01garbage'), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 30));
    sock.close();
    expect(server.stats()).toMatchObject({ parseErrors: 2, badRequestsAnswered: 1, dropped: 1 });
  });

  it('a handler reading a malformed header gets the request answered 400 naming it', async () => {
    const { client, port } = await pair((req, ctx) => {
      req.contacts(); // throws SipHeaderError('Contact')
      ctx.respond(200);
    });
    const req = register(port);
    req.set('Contact', 'sip:a@b?x=y');
    const res = await client.send(req);
    expect(res.status).toBe(400);
    expect(res.get('Warning')).toContain('Contact');
  });

  it('a proxy forwards a request with its own Via and relays the response', async () => {
    const { port: uasPort } = await pair((req, ctx) => ctx.respond(200, undefined, { toTag: 'uas', headers: [['X-Vias', String(req.vias().length)]] }));
    const proxy = createSipStack({
      transports: [await createUdpTransport()],
      timers: fast,
      onRequest: async (req, ctx) => {
        const fwd = req.clone();
        fwd.set('Max-Forwards', String((req.maxForwards() ?? 70) - 1));
        const res = await proxy.send(fwd, { destination: { address: '127.0.0.1', port: uasPort } });
        res.shift('Via');
        ctx.reply(res, { forwarded: true });
      },
    });
    stacks.push(proxy);
    const client = createSipStack({ transports: [await createUdpTransport()], onRequest: () => undefined, timers: fast });
    stacks.push(client);
    const res = await client.send(register(proxy.transports[0]!.port));
    expect(res.status).toBe(200);
    expect(res.get('X-Vias')).toBe('2');
    expect(res.vias()).toHaveLength(1);
    expect(res.to().params.tag).toBe('uas');
  });
});
