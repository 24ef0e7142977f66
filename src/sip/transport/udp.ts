/** SIP over UDP (RFC 3261 §18): one datagram, one message. */
import dgram from 'node:dgram';
import { literalFirstLookup } from '../../lib/udp-lookup.js';
import { parseMessage, type ParseLimits } from '../parse.js';
import { familyOf, type Destination, type MessageHandler, type SipTransport, type TransportOptions } from './types.js';

const KEEPALIVE = /^[\r\n]+$/;
/**
 * As the RADIUS and H.248 sockets: the kernel's default (~208 KiB) holds under a hundred REGISTER-sized datagrams (each costs its buffer's truesize, ~2 KiB), so a burst
 * that outran the event loop for a few milliseconds was dropped there and came back as retransmissions
 * from every terminal and from the SBC (3,500/s offered through `up`: 4,875 retransmissions with the
 * default, 115 with this; docs/performance.md, "Overload gate at 3,500/s (session 10)"). Overload is
 * the gate's to refuse, with a 503 the terminal reads, not the kernel's to drop unseen.
 */
const RECV_BUFFER = 4 * 1024 * 1024;

export class UdpTransport implements SipTransport {
  readonly protocol = 'udp' as const;
  readonly reliable = false;
  onMessage: MessageHandler | undefined;
  host = '';
  port = 0;
  family: 'IPv4' | 'IPv6';
  private readonly socket: dgram.Socket;
  private readonly limits: Partial<ParseLimits> | undefined;
  private readonly counters = { received: 0, sent: 0, keepalives: 0, sendErrors: 0 };

  constructor(private readonly opts: TransportOptions = {}) {
    const bind = opts.host ?? '127.0.0.1';
    this.family = familyOf(bind);
    this.limits = opts.limits;
    this.socket = dgram.createSocket({ type: this.family === 'IPv6' ? 'udp6' : 'udp4', ipv6Only: this.family === 'IPv6', lookup: literalFirstLookup, recvBufferSize: opts.recvBufferSize ?? RECV_BUFFER });
    this.socket.on('message', (buf, rinfo) => this.receive(buf, rinfo));
    // a UDP socket error (e.g. ICMP unreachable on some systems) must not bring the process down
    this.socket.on('error', () => {
      this.counters.sendErrors++;
    });
  }

  listen(): Promise<this> {
    const bind = this.opts.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.opts.port ?? 0, bind, () => {
        this.socket.off('error', reject);
        const a = this.socket.address();
        this.host = this.opts.advertisedHost ?? a.address;
        this.port = this.opts.advertisedPort ?? a.port;
        resolve(this);
      });
    });
  }

  private receive(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.received++;
    if (buf.length <= 4 && KEEPALIVE.test(buf.toString('latin1'))) {
      this.counters.keepalives++;
      return;
    }
    const result = parseMessage(buf, { datagram: true, ...(this.limits ? { limits: this.limits } : {}) });
    this.onMessage?.(result, { transport: this, protocol: 'udp', address: rinfo.address, port: rinfo.port });
  }

  send(data: Buffer, dest: Destination): Promise<void> {
    return new Promise((resolve, reject) => this.post(data, dest, (err) => (err ? reject(err) : resolve())));
  }

  post(data: Buffer, dest: Destination, done: (err: Error | null) => void): void {
    this.socket.send(data, dest.port, dest.address, (err) => {
      if (err) this.counters.sendErrors++;
      else this.counters.sent++;
      done(err);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}

export function createUdpTransport(opts: TransportOptions = {}): Promise<UdpTransport> {
  return new UdpTransport(opts).listen();
}
