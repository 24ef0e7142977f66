import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { AucService, AuthVector, DeregistrationReport, FailureReport, RegistrationReport } from '../../src/contracts/auc.js';
import {
  APP_BASE,
  avp,
  capabilityAvps,
  CX_APPLICATION,
  decodeMessage,
  DiameterFramer,
  encodeMessage,
  FLAG_REQUEST,
  type DiameterMessage,
} from '../../src/diameter/index.js';

/** An AucService in memory: alice is known, bob is locked, carol has a SIP password. */
export function fakeAuc() {
  const calls = {
    registered: [] as RegistrationReport[],
    deregistered: [] as DeregistrationReport[],
    failed: [] as FailureReport[],
  };
  const vectors: AuthVector[] = [];
  let failures = 0;
  const service: AucService = {
    async vector(req) {
      if (req.idc === 'bob@lab.example') return { ok: false, reason: 'locked', retryAfterSeconds: 120 };
      if (req.idc === 'dave@lab.example') return { ok: false, reason: 'disabled' };
      if (req.idc !== 'alice@lab.example') return { ok: false, reason: 'unknown-terminal' };
      if (req.idsp !== 'sbc1.lab.example') return { ok: false, reason: 'unknown-proxy' };
      const v: AuthVector = {
        idc: req.idc,
        idsp: req.idsp,
        rand: randomBytes(16),
        authenticator: randomBytes(16),
        ekc: randomBytes(60),
        eksp: randomBytes(60),
        expiresAt: Date.now() + 30_000,
      };
      vectors.push(v);
      return { ok: true, vector: v };
    },
    async digest(req) {
      if (req.idc !== 'carol@lab.example') return { ok: false, reason: 'no-sip-password' };
      return { ok: true, ha1: `${req.algorithm}:${req.username}:${req.realm}` };
    },
    async registered(r) {
      if (r.idc === 'boom@lab.example') throw new Error('database down');
      calls.registered.push(r);
    },
    async deregistered(r) {
      calls.deregistered.push(r);
    },
    async failed(r) {
      calls.failed.push(r);
      failures++;
      return failures >= 3 ? { locked: true, retryAfterSeconds: 60 } : { locked: false };
    },
  };
  return { service, calls, vectors };
}

/** A TCP relay that can record traffic and go silent (a hung peer: accepts, forwards nothing). */
export async function tcpProxy(targetPort: number) {
  let silent = false;
  const sockets = new Set<Socket>();
  const taps: ((dir: 'up' | 'down', chunk: Buffer, client: Socket) => void)[] = [];
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (c: Buffer) => {
      if (silent) return;
      for (const t of taps) t('up', c, client);
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      if (silent) return;
      for (const t of taps) t('down', c, client);
      client.write(c);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    silence(on: boolean) {
      silent = on;
    },
    tap(fn: (dir: 'up' | 'down', chunk: Buffer, client: Socket) => void) {
      taps.push(fn);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A raw TCP connection (or the given connected socket, e.g. TLS) that collects whole Diameter messages and notices the close. */
export async function rawPeer(port: number, connected?: Socket, originHost = 'raw.lab.example') {
  const socket = connected ?? connect({ host: '127.0.0.1', port });
  if (!connected) await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const framer = new DiameterFramer(1 << 20);
  const received: DiameterMessage[] = [];
  const waiters: (() => void)[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => {
    framer.push(c, (m) => received.push(decodeMessage(m)));
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    waiters.splice(0).forEach((w) => w());
  });
  const waitFor = (pred: () => boolean, ms = 5000) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (pred()) {
          clearTimeout(t);
          resolve(true);
        } else waiters.push(check);
      };
      const t = setTimeout(() => resolve(pred()), ms);
      check();
    });
  return {
    socket,
    received,
    get closed() {
      return closed;
    },
    waitFor,
    /** Answers and closes are both acceptable outcomes; resolves once either happened. */
    async answerOrClose(count: number, ms = 5000) {
      return waitFor(() => closed || received.length >= count, ms);
    },
    async handshake() {
      socket.write(cerBytes(1, originHost));
      await waitFor(() => received.length >= 1);
      return received[0]!;
    },
    close() {
      socket.destroy();
    },
  };
}

export function cerBytes(hopByHop = 1, originHost = 'raw.lab.example'): Buffer {
  return encodeMessage({
    flags: FLAG_REQUEST,
    commandCode: 257,
    applicationId: APP_BASE,
    hopByHop,
    endToEnd: hopByHop,
    avps: capabilityAvps({ originHost, originRealm: 'lab.example', applications: [CX_APPLICATION] }, '127.0.0.1'),
  });
}

export function cxRequest(commandCode: number, hopByHop: number, extra: ReturnType<typeof avp>[] = [], originHost = 'raw.lab.example'): DiameterMessage {
  return {
    flags: FLAG_REQUEST,
    commandCode,
    applicationId: 16777216,
    hopByHop,
    endToEnd: hopByHop,
    avps: [avp('Session-Id', `${originHost};1;${hopByHop}`), avp('Origin-Host', originHost), avp('Origin-Realm', 'lab.example'), ...extra],
  };
}
