import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APP_CX,
  avp,
  CX_APPLICATION,
  DiameterClient,
  DiameterPeer,
  encodeMessage,
  FLAG_ERROR,
  getString,
  resultOf,
  RESULT,
  startDiameterServer,
  type DiameterServer,
  type RequestHandler,
} from '../../src/diameter/index.js';
import { connect } from 'node:net';
import { cerBytes, cxRequest, rawPeer, tcpProxy } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Answers MAR with the User-Name it got and its own Origin-Host, after a random short delay. */
const echo: RequestHandler = async (req, ctx) => {
  await new Promise((r) => setTimeout(r, Math.random() * 5));
  if (getString(req.avps, 'User-Name') === 'throw') throw new Error('handler bug');
  return ctx.answer({ resultCode: RESULT.SUCCESS }, [avp('User-Name', getString(req.avps, 'User-Name') ?? '')]);
};

async function server(originHost = 'auc1.lab.example', port = 0, handshakeMs?: number): Promise<DiameterServer> {
  const s = await startDiameterServer({
    port,
    ...(handshakeMs ? { handshakeMs } : {}),
    local: { originHost, originRealm: 'lab.example', applications: [CX_APPLICATION] },
    handlers: [{ applicationId: APP_CX, commandCode: 303, handler: echo }],
    watchdogMs: 200,
  });
  cleanups.push(() => s.close());
  return s;
}

function client(ports: number[], extra: Partial<ConstructorParameters<typeof DiameterClient>[0]> = {}): DiameterClient {
  const c = new DiameterClient({
    peers: ports.map((port) => ({ host: '127.0.0.1', port })),
    local: { originHost: 'ss1.lab.example', originRealm: 'lab.example', applications: [CX_APPLICATION] },
    watchdogMs: 100,
    reconnectMs: 50,
    requestTimeoutMs: 500,
    totalTimeoutMs: 3000,
    reopenWatchdogs: 1,
    ...extra,
  }).start();
  cleanups.push(() => c.close());
  return c;
}

function mar(c: DiameterClient, user: string) {
  return c.request({
    commandCode: 303,
    applicationId: APP_CX,
    avps: [avp('Session-Id', c.newSessionId()), avp('Origin-Host', 'ss1.lab.example'), avp('Origin-Realm', 'lab.example'), avp('User-Name', user)],
  });
}

describe('Diameter peers', () => {
  it('exchanges CER/CEA and learns the peer identity and applications', async () => {
    const s = await server();
    const c = client([s.port]);
    expect(await c.waitForOpen(3000)).toBe(true);
    const st = c.status()[0]!;
    expect(st.remote?.originHost).toBe('auc1.lab.example');
    expect(st.remote?.applications.has(APP_CX)).toBe(true);
    expect(s.peers()[0]?.remote?.originHost).toBe('ss1.lab.example');
  });

  it('answers 200 requests in flight on one connection, each matched to its own answer', async () => {
    const s = await server();
    const c = client([s.port]);
    await c.waitForOpen(3000);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => mar(c, `user${i}`)));
    expect(answers.map((a) => getString(a.avps, 'User-Name'))).toEqual(Array.from({ length: 200 }, (_, i) => `user${i}`));
    expect(answers.every((a) => resultOf(a)?.code === 2001)).toBe(true);
    expect(s.peers()).toHaveLength(1);
  });

  it('wraps the hop-by-hop counter at 2^32', async () => {
    const s = await server();
    const socket = connect({ host: '127.0.0.1', port: s.port });
    await new Promise((r) => socket.once('connect', r));
    const peer = new DiameterPeer(socket, {
      role: 'initiator',
      local: { originHost: 'ss1.lab.example', originRealm: 'lab.example', applications: [CX_APPLICATION] },
      initialHopByHop: 0xfffffffe, // the CER takes this one
    });
    cleanups.push(() => peer.destroy('test over'));
    await new Promise((r) => peer.once('open', r));
    const a = await peer.request({ commandCode: 303, applicationId: APP_CX, avps: [avp('Session-Id', 's;1;1'), avp('User-Name', 'u1')] });
    const b = await peer.request({ commandCode: 303, applicationId: APP_CX, avps: [avp('Session-Id', 's;1;2'), avp('User-Name', 'u2')] });
    expect(a.hopByHop).toBe(0xffffffff);
    expect(b.hopByHop).toBe(0);
    expect(getString(b.avps, 'User-Name')).toBe('u2');
  });

  describe('errors are answers, not dead connections', () => {
    async function opened(s: DiameterServer) {
      const raw = await rawPeer(s.port);
      cleanups.push(() => raw.close());
      const cea = await raw.handshake();
      expect(resultOf(cea)?.code).toBe(2001);
      return raw;
    }

    it('unknown command → 3001 with the E bit; unknown application → 3007; unknown M-bit AVP → 5001 with Failed-AVP; handler failure → 5012', async () => {
      const s = await server();
      const raw = await opened(s);
      raw.socket.write(encodeMessage(cxRequest(399, 10)));
      raw.socket.write(encodeMessage({ ...cxRequest(303, 11), applicationId: 4 }));
      raw.socket.write(encodeMessage(cxRequest(303, 12, [{ code: 4242, vendorId: 0, flags: 0x40, value: Buffer.from('zz') }])));
      raw.socket.write(encodeMessage(cxRequest(303, 13, [avp('User-Name', 'throw')])));
      raw.socket.write(encodeMessage(cxRequest(303, 14, [avp('User-Name', 'still here'), { code: 4243, vendorId: 0, flags: 0, value: Buffer.from('ok') }])));
      expect(await raw.waitFor(() => raw.received.length >= 6)).toBe(true);
      const by = new Map(raw.received.map((m) => [m.hopByHop, m]));
      expect(resultOf(by.get(10)!)?.code).toBe(RESULT.COMMAND_UNSUPPORTED);
      expect(by.get(10)!.flags & FLAG_ERROR).toBe(FLAG_ERROR);
      expect(resultOf(by.get(11)!)?.code).toBe(RESULT.APPLICATION_UNSUPPORTED);
      const unsupported = by.get(12)!;
      expect(resultOf(unsupported)?.code).toBe(RESULT.AVP_UNSUPPORTED);
      const failed = unsupported.avps.find((a) => a.code === 279)!.value as { code: number }[];
      expect(failed[0]!.code).toBe(4242);
      expect(resultOf(by.get(13)!)?.code).toBe(RESULT.UNABLE_TO_COMPLY);
      expect(getString(by.get(14)!.avps, 'User-Name')).toBe('still here');
      expect(raw.closed).toBe(false);
    });

    it('answers a truncated AVP with 5014 and keeps serving; closes on an unframeable header', async () => {
      const s = await server();
      const raw = await opened(s);
      const bad = encodeMessage(cxRequest(303, 20, [avp('User-Name', 'x')]));
      bad.writeUIntBE(200, 20 + 5, 3); // Session-Id claims 200 bytes
      raw.socket.write(bad);
      raw.socket.write(encodeMessage(cxRequest(303, 21, [avp('User-Name', 'after')])));
      await raw.waitFor(() => raw.received.length >= 3);
      expect(resultOf(raw.received[1]!)?.code).toBe(RESULT.INVALID_AVP_LENGTH);
      expect(getString(raw.received[2]!.avps, 'User-Name')).toBe('after');
      const v9 = encodeMessage(cxRequest(303, 22));
      v9[0] = 9;
      raw.socket.write(v9);
      expect(await raw.waitFor(() => raw.closed)).toBe(true);
      expect(resultOf(raw.received[3]!)?.code).toBe(RESULT.UNSUPPORTED_VERSION);
    });

    it('survives random and mutated bytes from the network: each connection answers or closes, and the server keeps serving', async () => {
      // A mutated length can leave the server rightly waiting for more bytes; the handshake
      // timer (before CER) and the watchdog (after) bound that wait, so every case ends.
      const s = await server('auc1.lab.example', 0, 300);
      const good = encodeMessage(cxRequest(303, 30, [avp('User-Name', 'fuzz')]));
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
              const b = Buffer.from(good);
              for (const [p, v] of edits) b[p % b.length] = v;
              return b;
            }),
          ),
          fc.boolean(),
          async (payload, afterCer) => {
            const raw = await rawPeer(s.port);
            try {
              if (afterCer) await raw.handshake();
              const before = raw.received.length;
              raw.socket.write(payload);
              // a well-formed trailer: if the connection is still up, it must be answered
              raw.socket.write(encodeMessage(cxRequest(303, 31, [avp('User-Name', 'probe')])));
              await raw.answerOrClose(before + 1, 2000);
              expect(raw.closed || raw.received.length > before).toBe(true);
            } finally {
              raw.close();
            }
          },
        ),
        { numRuns: 120 },
      );
      const c = client([s.port]);
      expect(getString((await mar(c, 'alive')).avps, 'User-Name')).toBe('alive');
    });

    it('answers DWR with DWA, and refuses a CER with no common application (5010) then closes', async () => {
      const s = await server();
      const raw = await opened(s);
      raw.socket.write(encodeMessage({ flags: 0x80, commandCode: 280, applicationId: 0, hopByHop: 77, endToEnd: 77, avps: [avp('Origin-Host', 'raw.lab.example'), avp('Origin-Realm', 'lab.example')] }));
      await raw.waitFor(() => raw.received.length >= 2);
      expect(raw.received[1]).toMatchObject({ commandCode: 280, hopByHop: 77 });
      expect(resultOf(raw.received[1]!)?.code).toBe(2001);

      const other = await rawPeer(s.port);
      cleanups.push(() => other.close());
      other.socket.write(
        encodeMessage({
          flags: 0x80,
          commandCode: 257,
          applicationId: 0,
          hopByHop: 1,
          endToEnd: 1,
          avps: [avp('Origin-Host', 'nas.lab.example'), avp('Origin-Realm', 'lab.example'), avp('Host-IP-Address', '127.0.0.1'), avp('Vendor-Id', 0), avp('Product-Name', 'x'), avp('Auth-Application-Id', 1)],
        }),
      );
      expect(await other.waitFor(() => other.closed)).toBe(true);
      expect(resultOf(other.received[0]!)?.code).toBe(RESULT.NO_COMMON_APPLICATION);
    });

    it('drops a peer that sends requests before CER', async () => {
      const s = await server();
      const raw = await rawPeer(s.port);
      cleanups.push(() => raw.close());
      raw.socket.write(encodeMessage(cxRequest(303, 1)));
      expect(await raw.waitFor(() => raw.closed)).toBe(true);
      const again = await rawPeer(s.port);
      cleanups.push(() => again.close());
      again.socket.write(cerBytes());
      expect(await again.waitFor(() => again.received.length === 1)).toBe(true);
    });
  });

  describe('failover', () => {
    async function whoAnswers(c: DiameterClient): Promise<string | undefined> {
      const a = await mar(c, 'who');
      return getString(a.avps, 'Origin-Host');
    }

    async function until(pred: () => Promise<boolean> | boolean, ms = 8000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (await pred()) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    }

    it('moves to the secondary when the primary stops answering DWRs, and back when it recovers', async () => {
      const a = await server('auc1.lab.example');
      const b = await server('auc2.lab.example');
      const proxy = await tcpProxy(a.port);
      cleanups.push(() => proxy.close());
      const c = client([proxy.port, b.port]);
      expect(await until(() => c.status().every((s) => s.state === 'open'))).toBe(true);
      expect(await whoAnswers(c)).toBe('auc1.lab.example');

      proxy.silence(true); // primary hangs: TCP up, nothing answered
      expect(await until(() => c.status()[0]!.state !== 'open')).toBe(true);
      expect(await whoAnswers(c)).toBe('auc2.lab.example');

      proxy.silence(false);
      expect(await until(() => c.status()[0]!.state === 'open')).toBe(true);
      expect(await whoAnswers(c)).toBe('auc1.lab.example');
    });

    it('goes on with the other server when one is killed, and returns when it restarts', async () => {
      const a = await server('auc1.lab.example');
      const b = await server('auc2.lab.example');
      const c = client([a.port, b.port]);
      expect(await until(() => c.status().every((s) => s.state === 'open'))).toBe(true);
      expect(await whoAnswers(c)).toBe('auc1.lab.example');
      const port = a.port;
      await a.close();
      // requests sent right after the kill are still answered (by auc2)
      const answers = await Promise.all(Array.from({ length: 20 }, () => whoAnswers(c)));
      expect(new Set(answers)).toEqual(new Set(['auc2.lab.example']));
      await server('auc1.lab.example', port);
      expect(await until(async () => (await whoAnswers(c)) === 'auc1.lab.example')).toBe(true);
    });

    it('retries a request on the secondary when the primary times out on it', async () => {
      const a = await server('auc1.lab.example');
      const b = await server('auc2.lab.example');
      const proxy = await tcpProxy(a.port);
      cleanups.push(() => proxy.close());
      const c = client([proxy.port, b.port], { watchdogMs: 60_000, requestTimeoutMs: 300 });
      expect(await until(() => c.status().every((s) => s.state === 'open'))).toBe(true);
      proxy.silence(true);
      expect(await whoAnswers(c)).toBe('auc2.lab.example');
    });

    it('rejects within its bound when no peer is reachable', async () => {
      const s = await server();
      const port = s.port;
      await s.close();
      const c = client([port], { totalTimeoutMs: 400 });
      await expect(mar(c, 'nobody')).rejects.toThrow();
    });
  });
});
