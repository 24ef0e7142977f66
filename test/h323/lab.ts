/** An endpoint → SBC → gatekeeper → fake AuC lab on 127.0.0.1 with ephemeral ports. */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { DigestRequest, DigestResult } from '../../src/contracts/auc.js';
import { startH323Relay, type H323Relay, type H323RelayOptions } from '../../src/sbc/h323-relay.js';
import { startH323Gatekeeper, type H323Gatekeeper, type H323GatekeeperOptions } from '../../src/softswitch/h323-gatekeeper.js';
import { H323Endpoint, type H323EndpointOptions } from '../../src/terminal/h323-endpoint.js';
import type { RasPeer, RasTimers } from '../../src/h323/transport.js';
import { FakeAuc } from '../flow/harness.js';

export const IDSP = 'sbc1.lab.example';
export const KSP = Buffer.alloc(32, 0x22);
export const FAST: Partial<RasTimers> = { timeoutMs: 150, retries: 4, ripAfterMs: 2000, ripDelayMs: 3000, responseCacheMs: 5000, maxWaitMs: 10_000 };

/** The fake AuC, with passwords for H.235.1 endpoints (K = SHA-1(password), as the AuC hands it out). */
export class H323FakeAuc extends FakeAuc {
  readonly passwords = new Map<string, string>();
  digestCalls = 0;
  delayMs = 0;
  override async digest(req?: DigestRequest): Promise<DigestResult> {
    this.digestCalls++;
    if (!req) return { ok: false, reason: 'unknown-terminal' };
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const t = this.terminals.get(req.idc);
    const pw = this.passwords.get(req.idc);
    if (!t) return { ok: false, reason: 'unknown-terminal' };
    if (t.disabled) return { ok: false, reason: 'disabled' };
    if ((this.failures.get(req.idc) ?? 0) >= this.lockAfter) return { ok: false, reason: 'locked' };
    if (pw === undefined || req.algorithm !== 'H235-SHA1') return { ok: false, reason: 'no-sip-password' };
    return { ok: true, ha1: createHash('sha1').update(pw, 'utf8').digest('hex') };
  }
  override async vector(req: Parameters<FakeAuc['vector']>[0]) {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return super.vector(req);
  }
}

export interface Capture {
  side: 'endpoint' | 'access' | 'core' | 'gatekeeper';
  dir: 'in' | 'out';
  data: Buffer;
  peer: RasPeer;
}

export interface Lab {
  auc: H323FakeAuc;
  gk: H323Gatekeeper;
  sbc: H323Relay;
  captures: Capture[];
  provision(idc: string, o?: { kc?: Buffer; password?: string }): Buffer;
  endpoint(o: Partial<H323EndpointOptions> & { idc: string }): Promise<H323Endpoint>;
  close(): Promise<void>;
}

export async function startLab(o: { timers?: Partial<RasTimers>; relay?: Partial<H323RelayOptions>; gk?: Partial<H323GatekeeperOptions>; endpointPort?: (sbcPort: number) => Promise<number> } = {}): Promise<Lab> {
  const auc = new H323FakeAuc(Date.now, randomBytes);
  auc.proxies.set(IDSP, KSP);
  const captures: Capture[] = [];
  const timers = { ...FAST, ...o.timers };
  const gk = await startH323Gatekeeper({
    listen: { host: '127.0.0.1', port: 0 },
    auc,
    timers,
    onPacket: (dir, data, peer) => captures.push({ side: 'gatekeeper', dir, data, peer }),
    ...o.gk,
  });
  const sbc = await startH323Relay({
    listen: { host: '127.0.0.1', port: 0 },
    core: { host: '127.0.0.1', port: 0 },
    softswitch: { host: '127.0.0.1', port: gk.port },
    sbc: { idsp: IDSP, ksp: KSP },
    timers,
    onPacket: (side, dir, data, peer) => captures.push({ side, dir, data, peer }),
    ...o.relay,
  });
  const port = o.endpointPort ? await o.endpointPort(sbc.port) : sbc.port;
  const endpoints: H323Endpoint[] = [];
  return {
    auc,
    gk,
    sbc,
    captures,
    provision(idc, p = {}) {
      const kc = p.kc ?? randomBytes(32);
      auc.terminals.set(idc, { kc });
      if (p.password !== undefined) auc.passwords.set(idc, p.password);
      return kc;
    },
    async endpoint(e) {
      const ep = await H323Endpoint.open({
        sbc: { host: '127.0.0.1', port },
        local: { host: '127.0.0.1', port: 0 },
        timers,
        onPacket: (dir, data, peer) => captures.push({ side: 'endpoint', dir, data, peer }),
        ...e,
      });
      endpoints.push(ep);
      return ep;
    },
    async close() {
      await Promise.all(endpoints.map((e) => e.close()));
      await sbc.close();
      await gk.close();
    },
  };
}

/** A socket of its own, to play an attacker on another address. */
export async function attacker(): Promise<{ socket: Socket; send(data: Buffer, port: number): void; next(ms?: number): Promise<Buffer | undefined>; close(): void }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const inbox: Buffer[] = [];
  let waiter: ((b: Buffer) => void) | undefined;
  socket.on('message', (m) => (waiter ? (waiter(m), (waiter = undefined)) : inbox.push(m)));
  return {
    socket,
    send: (data, port) => socket.send(data, port, '127.0.0.1'),
    next: (ms = 2000) =>
      inbox.length
        ? Promise.resolve(inbox.shift())
        : new Promise((resolve) => {
            const t = setTimeout(() => {
              waiter = undefined;
              resolve(undefined);
            }, ms);
            waiter = (b) => {
              clearTimeout(t);
              resolve(b);
            };
          }),
    close: () => socket.close(),
  };
}

/**
 * A UDP man in the middle for one endpoint: forwards endpoint ⇄ SBC, letting
 * `alter` rewrite (or drop, returning null) each datagram. `inject` sends to
 * the SBC from the address it knows the endpoint by (the SBC's answer goes
 * down to the endpoint, through `alter`).
 */
export async function mitm(target: number, alter: (dir: 'up' | 'down', data: Buffer) => Buffer | null): Promise<{ port: number; inject(data: Buffer): void; close(): void }> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r));
  let client: { port: number; address: string } | undefined;
  front.on('message', (m, rinfo) => {
    client = rinfo;
    const out = alter('up', m);
    if (out) back.send(out, target, '127.0.0.1');
  });
  back.on('message', (m) => {
    const out = alter('down', m);
    if (out && client) front.send(out, client.port, client.address);
  });
  return {
    port: front.address().port,
    inject: (data) => back.send(data, target, '127.0.0.1'),
    close: () => {
      front.close();
      back.close();
    },
  };
}
