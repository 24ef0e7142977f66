/** SIP over TCP (RFC 3261 §18.3). */
import net from 'node:net';
import { StreamTransport, type StreamConnection, type StreamOptions } from './stream.js';
import { familyOf, type Destination } from './types.js';

export class TcpTransport extends StreamTransport {
  readonly protocol = 'tcp' as const;
  readonly family: 'IPv4' | 'IPv6';
  private readonly server: net.Server;

  constructor(opts: StreamOptions = {}) {
    super(opts);
    this.family = familyOf(opts.host ?? '127.0.0.1');
    this.server = net.createServer((socket) => {
      if (this.admit(socket)) this.adopt(socket, true);
    });
    this.server.on('error', () => undefined);
  }

  listen(): Promise<this> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.opts.port ?? 0, host: this.opts.host ?? '127.0.0.1' }, () => {
        this.server.off('error', reject);
        const a = this.server.address() as net.AddressInfo;
        this.host = this.opts.advertisedHost ?? a.address;
        this.port = this.opts.advertisedPort ?? a.port;
        resolve(this);
      });
    });
  }

  protected connect(dest: Destination): Promise<StreamConnection> {
    return new Promise((resolve, reject) => {
      const localAddress = this.localAddressFor(dest);
      const socket = net.connect(localAddress === undefined ? { host: dest.address, port: dest.port } : { host: dest.address, port: dest.port, localAddress });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const conn = this.adopt(socket, false);
        if (conn) resolve(conn);
        else reject(new Error('too many connections'));
      });
    });
  }

  protected closeServer(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function createTcpTransport(opts: StreamOptions = {}): Promise<TcpTransport> {
  return new TcpTransport(opts).listen();
}
