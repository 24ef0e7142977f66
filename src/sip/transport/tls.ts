/**
 * SIP over TLS (RFC 3261 §26.2), with certificates and with TLS-PSK (RFC 4279):
 * the SBC answers a terminal's PSK identity (IDc) with its session key Kc,sp.
 */
import tls from 'node:tls';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { StreamTransport, type StreamConnection, type StreamOptions } from './stream.js';
import { familyOf, type Destination } from './types.js';

/** PSK cipher suites for TLS 1.2. */
export const PSK_CIPHERS = 'PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256:PSK-CHACHA20-POLY1305';

export interface TlsServerSide {
  key?: string | Buffer;
  cert?: string | Buffer;
  ca?: string | Buffer | Array<string | Buffer>;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  /**
   * TLS-PSK: return the key for this identity, or null when there is none. The handshake
   * then goes on with a random key of this process, so that it fails exactly as a wrong key
   * does (bad_record_mac), and an unknown identity cannot be told from a known one by its
   * alert (unknown_psk_identity would say so). The identity is reported on every message
   * of a connection whose handshake succeeded.
   */
  pskCallback?: (socket: tls.TLSSocket, identity: string) => Buffer | null;
  pskIdentityHint?: string;
  ciphers?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
}

export interface TlsClientSide {
  ca?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer;
  cert?: string | Buffer;
  /** Default true; false only for tests or PSK-only links. */
  rejectUnauthorized?: boolean;
  servername?: string;
  /** TLS-PSK client: the identity to present and the key, given the server's hint. */
  psk?: { identity: string; key: Buffer };
  ciphers?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
}

export interface TlsOptions extends StreamOptions {
  /** Accept inbound TLS; without it the transport only connects out. */
  server?: TlsServerSide;
  client?: TlsClientSide;
}

/** Stands in for the key of an identity the server does not know (see pskCallback). */
const DUMMY_PSK = randomBytes(32);

export class TlsTransport extends StreamTransport {
  readonly protocol = 'tls' as const;
  readonly family: 'IPv4' | 'IPv6';
  private readonly server: tls.Server | undefined;
  /** Accepts TCP, counts and caps it (half-open handshakes included), then hands it to `server`. */
  private readonly front: net.Server | undefined;
  private readonly pskIdentities = new WeakMap<object, string>();
  private readonly tlsOpts: TlsOptions;
  handshakeFailures = 0;
  handshakeTimeouts = 0;

  constructor(opts: TlsOptions) {
    super(opts);
    this.tlsOpts = opts;
    this.family = familyOf(opts.host ?? '127.0.0.1');
    const s = opts.server;
    if (s) {
      const o: tls.TlsOptions = {};
      if (s.key) o.key = s.key;
      if (s.cert) o.cert = s.cert;
      if (s.ca) o.ca = s.ca;
      if (s.requestCert !== undefined) o.requestCert = s.requestCert;
      if (s.rejectUnauthorized !== undefined) o.rejectUnauthorized = s.rejectUnauthorized;
      if (s.ciphers) o.ciphers = s.ciphers;
      if (s.minVersion) o.minVersion = s.minVersion;
      if (s.maxVersion) o.maxVersion = s.maxVersion;
      if (s.pskCallback) {
        const cb = s.pskCallback;
        o.pskCallback = (socket: tls.TLSSocket, identity: string): Buffer | null => {
          let key: Buffer | null = null;
          try {
            key = cb(socket, identity);
          } catch {
            key = null;
          }
          if (!key) return DUMMY_PSK;
          this.pskIdentities.set(socket, identity);
          return key;
        };
        if (s.pskIdentityHint) o.pskIdentityHint = s.pskIdentityHint;
        if (!s.ciphers) o.ciphers = s.cert ? PSK_CIPHERS + ':' + tls.DEFAULT_CIPHERS : PSK_CIPHERS;
      }
      if (this.handshakeTimeoutMs > 0) o.handshakeTimeout = this.handshakeTimeoutMs;
      const server = tls.createServer(o, (socket) => {
        this.adopt(socket as unknown as net.Socket, true, this.pskIdentities.get(socket));
      });
      server.on('tlsClientError', (err, socket) => {
        this.handshakeFailures++;
        if ((err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.handshakeTimeouts++;
        socket.destroy();
      });
      server.on('error', () => undefined);
      this.server = server;
      // tls.Server takes sockets injected as 'connection' events (node:tls documents it): only admitted ones get there
      this.front = net.createServer((raw) => {
        if (this.admit(raw)) server.emit('connection', raw);
      });
      this.front.on('error', () => undefined);
    }
  }

  listen(): Promise<this> {
    const server = this.front;
    if (!server) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.opts.port ?? 0, host: this.opts.host ?? '127.0.0.1' }, () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        this.host = this.opts.advertisedHost ?? a.address;
        this.port = this.opts.advertisedPort ?? a.port;
        resolve(this);
      });
    });
  }

  protected connect(dest: Destination): Promise<StreamConnection> {
    const c = this.tlsOpts.client ?? {};
    // tls.connect passes socket options such as localAddress on to net.connect; its type does not list them
    const o: tls.ConnectionOptions & { localAddress?: string } = { host: dest.address, port: dest.port };
    const localAddress = this.localAddressFor(dest);
    if (localAddress !== undefined) o.localAddress = localAddress;
    if (c.ca) o.ca = c.ca;
    if (c.key) o.key = c.key;
    if (c.cert) o.cert = c.cert;
    if (c.servername) o.servername = c.servername;
    if (c.minVersion) o.minVersion = c.minVersion;
    if (c.maxVersion) o.maxVersion = c.maxVersion;
    o.rejectUnauthorized = c.rejectUnauthorized ?? true;
    if (c.ciphers) o.ciphers = c.ciphers;
    if (c.psk) {
      const psk = c.psk;
      o.pskCallback = () => ({ identity: psk.identity, psk: psk.key });
      if (!c.ciphers) o.ciphers = PSK_CIPHERS;
      // A PSK peer proves itself by knowing the key; there is no certificate to name-check.
      o.checkServerIdentity = () => undefined;
    }
    return new Promise((resolve, reject) => {
      const socket = tls.connect(o);
      socket.once('error', (e) => {
        this.handshakeFailures++;
        reject(e);
      });
      socket.once('secureConnect', () => {
        socket.removeAllListeners('error');
        const conn = this.adopt(socket as unknown as net.Socket, false, c.psk?.identity);
        if (conn) resolve(conn);
        else reject(new Error('too many connections'));
      });
    });
  }

  protected closeServer(): Promise<void> {
    const server = this.front;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  override stats(): Record<string, number> {
    return { ...super.stats(), handshakeFailures: this.handshakeFailures, handshakeTimeouts: this.handshakeTimeouts };
  }
}

export function createTlsTransport(opts: TlsOptions): Promise<TlsTransport> {
  return new TlsTransport(opts).listen();
}
