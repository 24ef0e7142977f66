/**
 * Shared machinery of the stream transports (TCP and TLS): framing by Content-Length,
 * bounded buffers, idle timeout, a cap on connections, and connection reuse by peer.
 */
import type { Socket } from 'node:net';
import { DEFAULT_LIMITS, findMessageLength, parseMessage, type ParseLimits } from '../parse.js';
import type { Destination, MessageHandler, SipConnection, SipTransport, TransportOptions } from './types.js';

export interface StreamOptions extends TransportOptions {
  /** Connections accepted or opened at once; beyond it new inbound ones are refused. Default 1024. */
  maxConnections?: number;
  /** Close a connection that carried nothing for this long. Default 10 minutes (0 = never). */
  idleTimeoutMs?: number;
}

let nextId = 1;

export class StreamConnection implements SipConnection {
  readonly id = nextId++;
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  /** CR/LF bytes seen since the last message: a CRLFCRLF ping may arrive in pieces. */
  private crlfRun = 0;

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
  protected readonly counters = { accepted: 0, refused: 0, opened: 0, received: 0, sent: 0, framingErrors: 0, idleClosed: 0, keepalives: 0 };
  protected readonly limits: ParseLimits;
  protected readonly maxConnections: number;
  protected readonly idleTimeoutMs: number;

  constructor(protected readonly opts: StreamOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.maxConnections = opts.maxConnections ?? 1024;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 600_000;
  }

  /** Opens a client connection to the peer; resolves once it can carry data. */
  protected abstract connect(dest: Destination): Promise<StreamConnection>;

  /** Wires a connected socket into framing and bookkeeping. Returns null if refused. */
  protected adopt(socket: Socket, inbound: boolean, pskIdentity?: string): StreamConnection | null {
    if (this.conns.size >= this.maxConnections) {
      this.counters.refused++;
      socket.destroy();
      return null;
    }
    const addr = normaliseAddress(socket.remoteAddress ?? '');
    const conn = new StreamConnection(this.protocol, socket, addr, socket.remotePort ?? 0, pskIdentity);
    this.conns.add(conn);
    const key = addr + '|' + conn.remotePort;
    if (!this.byPeer.has(key)) this.byPeer.set(key, conn);
    if (inbound) this.counters.accepted++;
    else this.counters.opened++;
    if (this.idleTimeoutMs > 0) {
      socket.setTimeout(this.idleTimeoutMs, () => {
        this.counters.idleClosed++;
        conn.close();
      });
    }
    socket.on('data', (chunk: Buffer) => {
      const frames = conn.take(chunk, this.limits.maxMessageSize, () => {
        this.counters.keepalives++;
        // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong
        if (!conn.closed) socket.write('\r\n');
      });
      if (frames === null) {
        this.counters.framingErrors++;
        conn.close();
        return;
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
      this.conns.delete(conn);
      if (this.byPeer.get(key) === conn) this.byPeer.delete(key);
    });
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
    await new Promise<void>((resolve, reject) => {
      c.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
    this.counters.sent++;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.close();
    await this.closeServer();
  }

  protected abstract closeServer(): Promise<void>;

  connections(): number {
    return this.conns.size;
  }

  stats(): Record<string, number> {
    return { ...this.counters, connections: this.conns.size };
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, so IPv4 peers on a dual-stack socket look the same everywhere. */
export function normaliseAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
