/**
 * Shared machinery of the stream transports (TCP and TLS): framing by Content-Length,
 * bounded buffers, a cap on connections (in all and per source address, half-open TLS
 * included), deadlines (a message must be complete within one, a byte does not reset it),
 * idle timeouts that tell a flow from a passer-by, and connection reuse by peer.
 */
import { isIP, type Socket } from 'node:net';
import { DEFAULT_LIMITS, findMessageLength, parseMessage, type ParseLimits } from '../parse.js';
import type { Destination, MessageHandler, SipConnection, SipTransport, TransportOptions } from './types.js';

export interface StreamOptions extends TransportOptions {
  /**
   * Connections at once, inbound ones still in their TLS handshake included; beyond it new
   * inbound ones are closed as they are accepted. Default 1024.
   */
  maxConnections?: number;
  /** Inbound connections at once from one address (handshaking included); 0: no cap. Default 0. */
  maxConnectionsPerSource?: number;
  /** Close a flow (a connection that carried a registration or a dialog) that carried nothing for this long. Default 10 minutes (0 = never). */
  idleTimeoutMs?: number;
  /**
   * Close a connection that is no flow yet when no complete message came for this long.
   * Default: idleTimeoutMs. Keep-alives do not count here, they do for a flow.
   */
  unboundIdleTimeoutMs?: number;
  /** A message must be complete this long after its first byte arrived, however it trickles; else the connection closes. Default 10 s (0 = never). */
  messageTimeoutMs?: number;
  /** TLS only: the handshake must be finished this long after the connection was accepted. Default 10 s. */
  handshakeTimeoutMs?: number;
}

let nextId = 1;

export class StreamConnection implements SipConnection {
  readonly id = nextId++;
  closed = false;
  flow = false;
  /** Writes are held until the end of this event-loop turn (StreamTransport.send). */
  corked = false;
  readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  private buf: Buffer = Buffer.alloc(0);
  /** CR/LF bytes seen since the last message: a CRLFCRLF ping may arrive in pieces. */
  private crlfRun = 0;
  /** Set by the transport: what to do when this connection becomes a flow. */
  onFlow: (() => void) | undefined;

  constructor(
    readonly protocol: 'tcp' | 'tls',
    readonly socket: Socket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    public pskIdentity: string | undefined,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  markFlow(): void {
    if (this.flow || this.closed) return;
    this.flow = true;
    this.onFlow?.();
  }

  /** Bytes of a message begun but not complete. */
  get pending(): number {
    return this.buf.length;
  }

  /** Appends data and returns complete frames; null when the peer broke framing (caller closes). */
  take(chunk: Buffer, maxSize: number, onKeepalive: (len: number) => void): Buffer[] | null {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.buf.length === 0) break;
      const f = findMessageLength(this.buf, maxSize);
      if (f.kind === 'incomplete') break;
      if (f.kind === 'error') return null;
      if (f.kind === 'keepalive') {
        this.crlfRun += f.length;
        if (this.crlfRun >= 4) {
          onKeepalive(this.crlfRun);
          this.crlfRun = 0;
        }
      } else {
        this.crlfRun = 0;
        out.push(this.buf.subarray(0, f.length));
      }
      this.buf = this.buf.subarray(f.length);
    }
    if (this.buf.length > maxSize) return null;
    return out;
  }
}

export abstract class StreamTransport implements SipTransport {
  abstract readonly protocol: 'tcp' | 'tls';
  readonly reliable = true;
  onMessage: MessageHandler | undefined;
  host = '';
  port = 0;
  abstract readonly family: 'IPv4' | 'IPv6';
  protected readonly conns = new Set<StreamConnection>();
  /** Open connections by "address|port" of the peer, for reuse when sending. */
  protected readonly byPeer = new Map<string, StreamConnection>();
  private readonly pending = new Map<string, Promise<StreamConnection>>();
  /** Sockets counted against maxConnections: inbound ones from their accept (handshake included), outbound ones once connected. */
  private open = 0;
  /** Inbound sockets per source address, for maxConnectionsPerSource. */
  private readonly perSource = new Map<string, number>();
  /** Inbound sockets from accept to close (a TLS one is in here during its handshake, before it is a connection). */
  private readonly admitted = new Set<Socket>();
  /**
   * Inbound sockets that have not yet delivered a complete message (TLS handshakes included),
   * oldest first, by "address|port": at the cap the oldest of them makes room for a newcomer,
   * so that a flood of silent or trickling connections cannot lock everyone else out.
   */
  private readonly unproven = new Map<string, { raw: Socket; conn?: StreamConnection; release: () => void }>();
  protected readonly counters = {
    accepted: 0, refused: 0, refusedPerSource: 0, evicted: 0, opened: 0, received: 0, sent: 0, framingErrors: 0,
    idleClosed: 0, messageTimeouts: 0, keepalives: 0, flows: 0,
  };
  protected readonly limits: ParseLimits;
  protected readonly maxConnections: number;
  protected readonly maxPerSource: number;
  protected readonly idleTimeoutMs: number;
  protected readonly unboundIdleTimeoutMs: number;
  protected readonly messageTimeoutMs: number;
  protected readonly handshakeTimeoutMs: number;

  constructor(protected readonly opts: StreamOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.maxConnections = opts.maxConnections ?? 1024;
    this.maxPerSource = opts.maxConnectionsPerSource ?? 0;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 600_000;
    this.unboundIdleTimeoutMs = opts.unboundIdleTimeoutMs ?? this.idleTimeoutMs;
    this.messageTimeoutMs = opts.messageTimeoutMs ?? 10_000;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000;
  }

  /**
   * The address an outbound connection leaves from: the one this transport is bound to, when
   * that is one address of the destination's family (not a wildcard), as a datagram from a
   * bound UDP socket does. A peer that trusts this host by its address (a softswitch its SBC)
   * would otherwise see whichever address the route picked on a multi-homed host.
   */
  protected localAddressFor(dest: Destination): string | undefined {
    const h = this.opts.host;
    if (h === undefined || h === '0.0.0.0' || h === '::' || isIP(h) === 0 || isIP(h) !== isIP(dest.address)) return undefined;
    // a loopback address cannot reach another host: that connection leaves as before, by the route
    return isLoopback(h) && !isLoopback(dest.address) ? undefined : h;
  }

  /** Opens a client connection to the peer; resolves once it can carry data. */
  protected abstract connect(dest: Destination): Promise<StreamConnection>;

  /**
   * Counts an inbound socket as soon as it is accepted (before any TLS handshake), or
   * closes it when its source is at its cap. At the transport's cap the oldest connection
   * that has not yet delivered a message is closed to make room; with none, the newcomer
   * is refused. False when refused.
   */
  protected admit(socket: Socket): boolean {
    const addr = socket.remoteAddress === undefined ? undefined : normaliseAddress(socket.remoteAddress);
    const perSourceFull = addr !== undefined && this.maxPerSource > 0 && (this.perSource.get(addr) ?? 0) >= this.maxPerSource;
    if (addr !== undefined && !perSourceFull && this.open >= this.maxConnections) this.evictOldestUnproven();
    // read after the eviction, which may have given back a place of this very source
    const n = addr === undefined ? 0 : this.perSource.get(addr) ?? 0;
    if (addr === undefined || perSourceFull || this.open >= this.maxConnections) {
      if (perSourceFull) this.counters.refusedPerSource++;
      this.counters.refused++;
      socket.destroy();
      return false;
    }
    this.open++;
    this.perSource.set(addr, n + 1);
    this.admitted.add(socket);
    const key = addr + '|' + (socket.remotePort ?? 0);
    let released = false;
    // gives its place back once: at its close, or at once when evicted (its close comes later)
    const release = (): void => {
      if (released) return;
      released = true;
      this.admitted.delete(socket);
      if (this.unproven.get(key) === entry) this.unproven.delete(key);
      this.open--;
      const left = (this.perSource.get(addr) ?? 1) - 1;
      if (left > 0) this.perSource.set(addr, left);
      else this.perSource.delete(addr);
    };
    const entry: { raw: Socket; conn?: StreamConnection; release: () => void } = { raw: socket, release };
    this.unproven.set(key, entry);
    socket.once('close', release);
    // until adopted (a TLS handshake), errors are the TLS layer's; a raw socket must not throw them
    socket.on('error', () => undefined);
    return true;
  }

  private evictOldestUnproven(): void {
    const oldest = this.unproven.entries().next();
    if (oldest.done) return;
    const e = oldest.value[1];
    this.counters.evicted++;
    e.release();
    if (e.conn) e.conn.close();
    else e.raw.destroy();
  }

  /** Wires a connected socket into framing and bookkeeping. Inbound sockets were admitted already. Returns null if refused. */
  protected adopt(socket: Socket, inbound: boolean, pskIdentity?: string): StreamConnection | null {
    if (!inbound) {
      if (this.open >= this.maxConnections) {
        this.counters.refused++;
        socket.destroy();
        return null;
      }
      this.open++;
      socket.once('close', () => this.open--);
    }
    const addr = normaliseAddress(socket.remoteAddress ?? '');
    const conn = new StreamConnection(this.protocol, socket, addr, socket.remotePort ?? 0, pskIdentity);
    this.conns.add(conn);
    const key = addr + '|' + conn.remotePort;
    if (!this.byPeer.has(key)) this.byPeer.set(key, conn);
    const unproven = inbound ? this.unproven.get(key) : undefined;
    if (unproven) unproven.conn = conn;
    if (inbound) this.counters.accepted++;
    else this.counters.opened++;

    // Idle: a connection that is no flow yet is closed after unboundIdleTimeoutMs without a
    // complete message; once a registration or a dialog went over it, after idleTimeoutMs
    // without anything (keep-alives included, RFC 5626 §4.4.1).
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (ms: number): void => {
      if (idle) clearTimeout(idle);
      idle = undefined;
      if (ms <= 0 || conn.closed) return;
      idle = setTimeout(() => {
        this.counters.idleClosed++;
        conn.close();
      }, ms);
      idle.unref();
    };
    armIdle(this.unboundIdleTimeoutMs);
    conn.onFlow = () => {
      this.counters.flows++;
      armIdle(this.idleTimeoutMs);
    };
    // A message must be complete messageTimeoutMs after its first byte: trickling does not extend it.
    let deadline: NodeJS.Timeout | undefined;
    const checkDeadline = (completed: boolean): void => {
      if (conn.pending === 0 || completed) {
        if (deadline) clearTimeout(deadline);
        deadline = undefined;
      }
      if (conn.pending > 0 && !deadline && this.messageTimeoutMs > 0 && !conn.closed) {
        deadline = setTimeout(() => {
          this.counters.messageTimeouts++;
          conn.close();
        }, this.messageTimeoutMs);
        deadline.unref();
      }
    };

    socket.on('data', (chunk: Buffer) => {
      const frames = conn.take(chunk, this.limits.maxMessageSize, () => {
        this.counters.keepalives++;
        if (conn.flow) idle?.refresh();
        // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong
        if (!conn.closed) socket.write('\r\n');
      });
      if (frames === null) {
        this.counters.framingErrors++;
        conn.close();
        return;
      }
      checkDeadline(frames.length > 0);
      if (frames.length > 0) {
        idle?.refresh();
        if (unproven && this.unproven.get(key) === unproven) this.unproven.delete(key);
      }
      for (const f of frames) {
        this.counters.received++;
        const result = parseMessage(f, { datagram: false, limits: this.limits });
        const src = { transport: this, protocol: this.protocol, address: conn.remoteAddress, port: conn.remotePort, connection: conn } as const;
        this.onMessage?.(result, conn.pskIdentity !== undefined ? { ...src, pskIdentity: conn.pskIdentity } : src);
        if (conn.closed) return;
      }
    });
    socket.on('error', () => conn.close());
    socket.on('close', () => {
      conn.closed = true;
      if (idle) clearTimeout(idle);
      if (deadline) clearTimeout(deadline);
      this.conns.delete(conn);
      if (this.byPeer.get(key) === conn) this.byPeer.delete(key);
    });
    if (socket.destroyed) conn.closed = true;
    return conn;
  }

  async send(data: Buffer, dest: Destination): Promise<void> {
    let conn = dest.connection && !dest.connection.closed ? (dest.connection as StreamConnection) : undefined;
    if (!conn) {
      const key = normaliseAddress(dest.address) + '|' + dest.port;
      conn = this.byPeer.get(key);
      if (!conn || conn.closed) {
        let p = this.pending.get(key);
        if (!p) {
          p = this.connect(dest).finally(() => this.pending.delete(key));
          this.pending.set(key, p);
        }
        conn = await p;
      }
    }
    const c = conn;
    if (!c.corked && c.protocol === 'tcp') {
      // the messages of this event-loop turn leave in one write (writev) once it is over: on the
      // SBC's core link, where a burst of datagrams read in one turn is forwarded in that turn,
      // a syscall and a wake-up of the peer per message was a sixth of both sides' CPU.
      // Plain TCP only: corked TLS sockets broke calls over TLS and TLS-PSK in the tests (not
      // looked into further: TLS is a terminal's link, never the core's).
      c.corked = true;
      c.socket.cork();
      setImmediate(c.uncork);
    }
    await new Promise<void>((resolve, reject) => {
      c.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
    this.counters.sent++;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.close();
    for (const s of this.admitted) s.destroy();
    await this.closeServer();
  }

  protected abstract closeServer(): Promise<void>;

  connections(): number {
    return this.conns.size;
  }

  stats(): Record<string, number> {
    return { ...this.counters, connections: this.conns.size, open: this.open, sources: this.perSource.size };
  }
}

function isLoopback(a: string): boolean {
  return a === '::1' || a.startsWith('127.');
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, so IPv4 peers on a dual-stack socket look the same everywhere. */
export function normaliseAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
