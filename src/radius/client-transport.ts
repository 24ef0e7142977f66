/**
 * UDP transport for a RADIUS client: a pool of sockets, each with its own
 * 256 Identifiers (RFC 2865 §3: the Identifier space is per source port), so
 * any number of requests can be in flight; retransmission with back-off to
 * one server, failover to the next on timeout, and a bounded total time.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { literalFirstLookup } from '../lib/udp-lookup.js';
import { walkPacket, type PacketView } from './packet.js';

export interface RadiusServerAddress {
  host: string;
  authPort: number;
  acctPort: number;
  /** Overrides the client's shared secret for this server. */
  secret?: string;
}

export interface ClientTransportOptions {
  servers: RadiusServerAddress[];
  /** First wait for an answer; doubled on each retransmission. Default 1000 ms. */
  timeoutMs?: number;
  /** Retransmissions to one server before failing over. Default 2. */
  retries?: number;
  /** Bound on one exchange, failovers included. Default 5000 ms. */
  totalTimeoutMs?: number;
  /** A server that timed out is tried after the others for this long. Default 30 s. */
  holdDownMs?: number;
  /** Most sockets per address family (256 requests in flight each). Default 64. */
  maxSockets?: number;
}

export interface ClientTransportStats {
  requests: number;
  sent: number;
  retransmissions: number;
  failovers: number;
  timeouts: number;
  answered: number;
  droppedInvalidAnswer: number;
  droppedStrayAnswer: number;
  sockets: number;
  inFlight: number;
}

export type Port = 'auth' | 'acct';

/** What a request needs: bytes for a given Identifier, and a check of a candidate answer. */
export interface Exchange<T> {
  port: Port;
  build(identifier: number, server: RadiusServerAddress): { packet: Buffer; accept(answer: PacketView): T | undefined };
}

export class NoAnswerError extends Error {
  constructor() {
    super('no RADIUS server answered in time');
    this.name = 'NoAnswerError';
  }
}

interface Pending {
  address: string;
  port: number;
  onAnswer(p: PacketView): boolean;
}

class PooledSocket {
  readonly pending = new Map<number, Pending>();
  private next = Math.floor(Math.random() * 256);
  constructor(readonly socket: Socket) {}
  allocate(p: Pending): number | undefined {
    if (this.pending.size >= 256) return undefined;
    while (this.pending.has(this.next)) this.next = (this.next + 1) & 0xff;
    const id = this.next;
    this.next = (this.next + 1) & 0xff;
    this.pending.set(id, p);
    return id;
  }
}

/**
 * RFC 5080 §2.2.1 randomises the retransmission timer by ±10 %; in five steps,
 * not continuously: Node keeps one timer list per distinct duration, and a
 * duration of its own per exchange made and dropped a list (and its priority
 * queue entry) every time.
 */
const JITTER = [0.9, 0.95, 1, 1.05, 1.1];

/**
 * One server's attempt at an exchange: send, retransmit with back-off, settle
 * on the first acceptable answer or when tries or time run out. One object and
 * one promise per attempt; the answer settles it from the socket's callback.
 */
class Attempt<T> implements Pending {
  readonly address: string;
  readonly port: number;
  accept: ((p: PacketView) => T | undefined) | undefined;
  value: T | undefined;
  got = false;
  ps: PooledSocket | undefined;
  id = -1;
  packet: Buffer | undefined;
  tries = 0;
  timer: ReturnType<typeof setTimeout> | undefined;
  settle: (() => void) | undefined;
  /** Rejects the attempt (its request could not be built). */
  fail: ((err: unknown) => void) | undefined;
  readonly onTimer = (): void => this.t.retransmit(this);

  constructor(
    readonly t: RadiusClientTransport,
    readonly server: RadiusServerAddress,
    port: number,
    readonly deadline: number,
  ) {
    this.address = server.host;
    this.port = port;
  }

  onAnswer(p: PacketView): boolean {
    if (this.got || this.settle === undefined) return false;
    const v = this.accept?.(p);
    if (v === undefined) return false;
    this.value = v;
    this.t.finish(this, true);
    return true;
  }
}

export class RadiusClientTransport {
  private readonly pools = new Map<'udp4' | 'udp6', PooledSocket[]>();
  private readonly waiters: Array<() => void> = [];
  private readonly opening = new Map<'udp4' | 'udp6', Promise<void>>();
  private readonly downUntil = new Map<RadiusServerAddress, number>();
  private closed = false;
  private readonly s = { requests: 0, sent: 0, retransmissions: 0, failovers: 0, timeouts: 0, answered: 0, droppedInvalidAnswer: 0, droppedStrayAnswer: 0 };
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly totalTimeoutMs: number;
  private readonly holdDownMs: number;
  private readonly maxSockets: number;

  constructor(private readonly o: ClientTransportOptions) {
    if (o.servers.length === 0) throw new Error('at least one RADIUS server is needed');
    this.timeoutMs = o.timeoutMs ?? 1000;
    this.retries = o.retries ?? 2;
    this.totalTimeoutMs = o.totalTimeoutMs ?? 5000;
    this.holdDownMs = o.holdDownMs ?? 30_000;
    this.maxSockets = o.maxSockets ?? 64;
  }

  stats(): ClientTransportStats {
    let sockets = 0;
    let inFlight = 0;
    for (const pool of this.pools.values()) for (const ps of pool) {
      sockets++;
      inFlight += ps.pending.size;
    }
    return { ...this.s, sockets, inFlight };
  }

  /** Servers not held down first, in configured order, then the held-down ones. */
  private order(now: number): readonly RadiusServerAddress[] {
    // none held down (the usual case): the configured list as it is
    if (this.downUntil.size === 0) return this.o.servers;
    const up = this.o.servers.filter((s) => (this.downUntil.get(s) ?? 0) <= now);
    const down = this.o.servers.filter((s) => (this.downUntil.get(s) ?? 0) > now);
    return [...up, ...down];
  }

  async exchange<T>(x: Exchange<T>): Promise<T> {
    if (this.closed) throw new NoAnswerError();
    this.s.requests++;
    const now = Date.now();
    const deadline = now + this.totalTimeoutMs;
    let first = true;
    for (const server of this.order(now)) {
      if ((first ? now : Date.now()) >= deadline) break;
      if (!first) this.s.failovers++;
      first = false;
      const a = await this.tryServer(x, server, deadline);
      if (a.got) {
        if (this.downUntil.size) this.downUntil.delete(server);
        return a.value as T;
      }
      this.downUntil.set(server, Date.now() + this.holdDownMs);
      if (this.closed) break;
    }
    this.s.timeouts++;
    throw new NoAnswerError();
  }

  /** Settles once an acceptable answer came (`got`) or the tries or the time ran out. */
  private tryServer<T>(x: Exchange<T>, server: RadiusServerAddress, deadline: number): Promise<Attempt<T>> {
    const family = isIP(server.host) === 6 ? 'udp6' : 'udp4';
    const a = new Attempt<T>(this, server, x.port === 'auth' ? server.authPort : server.acctPort, deadline);
    return new Promise<Attempt<T>>((resolve, reject) => {
      a.settle = () => resolve(a);
      a.fail = reject;
      // a free Identifier now (the usual case) costs no promise; else wait for one
      const slot = this.closed ? undefined : this.allocateNow(family, a);
      if (slot) return this.begin(x, a, slot);
      this.allocate(family, a, deadline).then(
        (s) => (s ? this.begin(x, a, s) : this.finish(a, false)),
        () => this.finish(a, false),
      );
    });
  }

  private begin<T>(x: Exchange<T>, a: Attempt<T>, [ps, id]: [PooledSocket, number]): void {
    a.ps = ps;
    a.id = id;
    try {
      const built = x.build(id, a.server);
      a.accept = built.accept;
      a.packet = built.packet;
    } catch (err) {
      const fail = a.fail!;
      this.finish(a, false);
      fail(err);
      return;
    }
    this.retransmit(a);
  }

  /** Sends (again) and arms the timer, or gives up when the tries, the time or the transport are done. */
  retransmit<T>(a: Attempt<T>): void {
    a.timer = undefined;
    if (a.got || a.settle === undefined) return;
    const left = a.deadline - Date.now();
    if (a.tries > this.retries || this.closed || left <= 0) return this.finish(a, false);
    if (a.tries > 0) this.s.retransmissions++;
    this.s.sent++;
    try {
      // No callback: one with it cost a tick per datagram; a send that fails (an unreachable port) shows up as a timeout.
      a.ps!.socket.send(a.packet!, a.port, a.address);
    } catch {
      return this.finish(a, false); // socket closed under us
    }
    const rt = this.timeoutMs * 2 ** a.tries * JITTER[(Math.random() * JITTER.length) | 0]!;
    a.tries++;
    a.timer = setTimeout(a.onTimer, Math.min(rt, left));
  }

  /** Frees the Identifier and settles the attempt (once). */
  finish<T>(a: Attempt<T>, answered: boolean): void {
    const settle = a.settle;
    if (settle === undefined) return;
    a.settle = undefined;
    a.fail = undefined;
    a.got = answered;
    if (a.timer !== undefined) clearTimeout(a.timer);
    a.timer = undefined;
    if (a.ps) {
      a.ps.pending.delete(a.id);
      this.waiters.shift()?.();
    }
    settle();
  }

  /** A free Identifier on a socket already open, or undefined. */
  private allocateNow(family: 'udp4' | 'udp6', p: Pending): [PooledSocket, number] | undefined {
    const pool = this.pools.get(family);
    if (!pool) return undefined;
    for (const ps of pool) {
      const id = ps.allocate(p);
      if (id !== undefined) return [ps, id];
    }
    return undefined;
  }

  private async allocate(family: 'udp4' | 'udp6', p: Pending, deadline: number): Promise<[PooledSocket, number] | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      let pool = this.pools.get(family);
      if (!pool) this.pools.set(family, (pool = []));
      for (const ps of pool) {
        const id = ps.allocate(p);
        if (id !== undefined) return [ps, id];
      }
      if (pool.length < this.maxSockets) {
        // One opening at a time per family, else a burst opens a socket per request.
        let opening = this.opening.get(family);
        if (!opening) {
          const p = pool;
          opening = this.openSocket(family).then(
            (ps) => {
              p.push(ps);
              this.opening.delete(family);
            },
            (err: unknown) => {
              this.opening.delete(family);
              throw err;
            },
          );
          this.opening.set(family, opening);
        }
        await opening;
        continue;
      }
      // Every Identifier of every socket is taken: wait for one to free up.
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          const i = this.waiters.indexOf(go);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        }, left);
        const go = (): void => {
          clearTimeout(t);
          resolve();
        };
        this.waiters.push(go);
      });
    }
  }

  private async openSocket(family: 'udp4' | 'udp6'): Promise<PooledSocket> {
    // Up to 256 answers can arrive at once on one socket.
    const socket = createSocket({ type: family, recvBufferSize: 1 << 20, lookup: literalFirstLookup });
    const ps = new PooledSocket(socket);
    socket.on('message', (msg, from) => {
      const walked = walkPacket(msg);
      if (!walked.ok) {
        this.s.droppedInvalidAnswer++;
        return;
      }
      const p = ps.pending.get(walked.packet.identifier);
      if (!p) {
        this.s.droppedStrayAnswer++;
        return;
      }
      if (!sameAddress(from.address, p.address) || from.port !== p.port || !p.onAnswer(walked.packet)) {
        this.s.droppedInvalidAnswer++;
        return;
      }
      this.s.answered++;
    });
    socket.on('error', () => {
      /* per-send errors surface as timeouts */
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.unref();
    return ps;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    const all: Promise<void>[] = [];
    for (const pool of this.pools.values()) for (const ps of pool) {
      all.push(new Promise<void>((resolve) => ps.socket.close(() => resolve())));
    }
    this.pools.clear();
    await Promise.all(all);
  }
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const strip = (x: string): string => (x.startsWith('::ffff:') ? x.slice(7) : x);
  return strip(a) === strip(b) || (b === 'localhost' && (a === '127.0.0.1' || a === '::1'));
}
