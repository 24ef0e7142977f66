/** What a transport gives the upper layer and takes from it. */
import type { ParseLimits, ParseResult } from '../parse.js';

export type TransportProtocol = 'udp' | 'tcp' | 'tls';

/** A stream connection (TCP or TLS) a message came on, or that one can be sent on. */
export interface SipConnection {
  readonly id: number;
  readonly protocol: 'tcp' | 'tls';
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** TLS-PSK: the identity the peer used (the server side sees the client's; the client side its own). */
  readonly pskIdentity: string | undefined;
  readonly closed: boolean;
  /** True once a registration or a dialog was set up over this connection (an RFC 5626 flow). */
  readonly flow: boolean;
  /** Makes it a flow: it then gets the transport's long idle timeout instead of the short one for passers-by. */
  markFlow(): void;
  close(): void;
}

export interface MessageSource {
  transport: SipTransport;
  protocol: TransportProtocol;
  /** Peer address as the socket saw it (IPv6 without brackets). */
  address: string;
  port: number;
  connection?: SipConnection;
  pskIdentity?: string;
}

export interface Destination {
  address: string;
  port: number;
  /** Send on this connection when it is still open (responses go back the way the request came). */
  connection?: SipConnection;
}

export type MessageHandler = (result: ParseResult, src: MessageSource) => void;

export interface SipTransport {
  readonly protocol: TransportProtocol;
  /** Reliable transports need no retransmission timers (RFC 3261 §17). */
  readonly reliable: boolean;
  /** Host and port to write in our Via sent-by and Contact (the advertised ones when configured). */
  readonly host: string;
  readonly port: number;
  /** Address family of the listening socket. */
  readonly family: 'IPv4' | 'IPv6';
  onMessage: MessageHandler | undefined;
  /** Resolves once the bytes are handed to the socket; rejects if they cannot be. */
  send(data: Buffer, dest: Destination): Promise<void>;
  /**
   * send() without a promise, for what sends message after message (a transaction): `done` is
   * called with null once the bytes are handed to the socket, or with the error. A promise per
   * datagram, its `catch` and the microtask that settles them were a share of every message's
   * cost (docs/performance.md, "SBC and SIP stack (session 9)"). Absent: send() is used.
   */
  post?(data: Buffer, dest: Destination, done: (err: Error | null) => void): void;
  close(): Promise<void>;
  stats(): Record<string, number>;
}

export interface TransportOptions {
  /** Address to bind: '127.0.0.1', '::1', '0.0.0.0', '::'. Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Host/port to advertise in Via/Contact when behind NAT or bound to a wildcard. */
  advertisedHost?: string;
  advertisedPort?: number;
  limits?: Partial<ParseLimits>;
  /** UDP only: the socket's receive buffer, bytes (capped by the kernel's net.core.rmem_max); default 4 MiB. */
  recvBufferSize?: number;
}

export function familyOf(host: string): 'IPv4' | 'IPv6' {
  return host.includes(':') ? 'IPv6' : 'IPv4';
}
