/**
 * How long a datagram waits in a UDP socket's receive buffer before the
 * process reads it. A saturated process leaves datagrams queued in the
 * kernel, where no in-process count sees them and the event loop's lag stays
 * low (the loop reads them in batches, its timers still running in between).
 * So the socket is asked directly: a probe — a random token drawn once per
 * socket and the time it was sent — goes to the socket's own address, queues
 * behind whatever is waiting, and its age when read is the wait. The token
 * never leaves the host (a datagram to a local address goes over loopback),
 * so no one else can make a datagram pass for a probe.
 *
 * Probes are sent from the receive path, at most one per `everyMs` while
 * datagrams arrive, never from a timer: an idle socket has nothing waiting,
 * and a timer waking an idle process 50 times a second cost 1.2 % of a core
 * (bench/socket-wait-idle.ts; docs/performance.md).
 */
import { randomBytes } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';

const PROBE_BYTES = 16;
/** Probes unread at most: sent only while datagrams are read, more than this means the oldest were lost. */
const MAX_UNREAD = 64;

export class SocketWait {
  readonly #socket: Socket;
  readonly #token: bigint;
  readonly #now: () => number;
  #everyMs = 0;
  #lastSent = -Infinity;
  /** Send times of the probes not read yet, oldest first (FIFO: reading one means the older ones are gone). */
  readonly #unread: number[] = [];
  /** The longest wait read since the last waitMs(). */
  #maxRead = 0;
  /** Until one probe has come back, nothing unread counts: a path that never delivers (a filter on loopback) must not read as a stuck socket. */
  #proven = false;
  #to: { address: string; port: number } | undefined;

  constructor(socket: Socket, now: () => number = () => performance.now()) {
    this.#socket = socket;
    this.#token = randomBytes(8).readBigUInt64BE(0);
    this.#now = now;
  }

  /** Probes at most every `everyMs` while datagrams arrive, once the socket is bound. */
  start(everyMs = 20): this {
    try {
      this.#socket.address();
    } catch {
      this.#socket.once('listening', () => this.start(everyMs));
      return this;
    }
    const a = this.#socket.address();
    const wildcard = a.address === '0.0.0.0' || a.address === '::';
    this.#to = { address: wildcard ? (a.family === 'IPv6' ? '::1' : '127.0.0.1') : a.address, port: a.port };
    this.#everyMs = everyMs;
    return this;
  }

  stop(): void {
    this.#to = undefined;
  }

  /**
   * Called with every datagram the socket reads: whether it is this socket's own probe (then it is taken,
   * and the caller handles nothing). Any other sends a probe if one is due.
   */
  take(buf: Buffer, from: RemoteInfo): boolean {
    if (this.#to === undefined) return false;
    if (buf.length !== PROBE_BYTES || from.port !== this.#to.port || buf.readBigUInt64BE(0) !== this.#token) {
      const t = this.#now();
      if (t - this.#lastSent >= this.#everyMs) this.#probe(t);
      return false;
    }
    const sent = buf.readDoubleBE(8);
    const u = this.#unread;
    let n = 0;
    while (n < u.length && u[n]! <= sent) n++;
    if (n > 0) u.splice(0, n);
    this.#proven = true;
    const age = this.#now() - sent;
    if (age > this.#maxRead) this.#maxRead = age;
    return true;
  }

  /**
   * The longest a datagram has waited since the last call, ms: the oldest
   * probe read in between, or, if one sent is still unread, at least its age
   * (a socket that is stuck reads as slow, not as calm).
   */
  waitMs(): number {
    let w = this.#maxRead;
    this.#maxRead = 0;
    if (this.#proven && this.#unread.length > 0) w = Math.max(w, this.#now() - this.#unread[0]!);
    return w;
  }

  #probe(t: number): void {
    if (this.#to === undefined) return;
    // that many unread while datagrams are still read: the oldest were dropped (a full buffer), and are
    // forgotten so that probing goes on (kept, the socket would read as stuck for good)
    if (this.#unread.length >= MAX_UNREAD) this.#unread.shift();
    this.#lastSent = t;
    const buf = Buffer.allocUnsafe(PROBE_BYTES);
    buf.writeBigUInt64BE(this.#token, 0);
    buf.writeDoubleBE(t, 8);
    this.#unread.push(t);
    try {
      this.#socket.send(buf, this.#to.port, this.#to.address);
    } catch {
      // a closed socket
      this.#unread.pop();
    }
  }
}
