/** A Diameter responder over TCP or TLS-PSK: accepts peers, answers CER, dispatches requests to handlers. */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { DiameterMessage } from './codec.js';
import type { Dictionary } from './dictionary.js';
import type { LocalIdentity, RemoteIdentity } from './identity.js';
import { DiameterPeer, type ConnectionFacts, type HandlerTable, type PeerAuthorizer, type RequestHandler } from './peer.js';
import { pskServerOptions } from './tls-psk.js';

export interface HandlerRegistration {
  applicationId: number;
  commandCode: number;
  handler: RequestHandler;
}

export interface DiameterServerOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  local: LocalIdentity;
  handlers: HandlerRegistration[];
  watchdogMs?: number;
  handshakeMs?: number;
  maxMessageSize?: number;
  maxConnections?: number;
  maxIncomingInFlight?: number;
  dictionary?: Dictionary;
  /** Who may complete CER/CEA; others get 3010 DIAMETER_UNKNOWN_PEER and are closed. */
  authorize?: PeerAuthorizer;
  /** Told of each CER refused by `authorize` (for the log: names and addresses only). */
  onRefused?: (remote: RemoteIdentity, conn: ConnectionFacts) => void;
  /**
   * TLS-PSK from the first byte (RFC 6733 §13): the key of a PSK identity
   * (an Origin-Host), undefined for an identity that is no peer. Absent: plain TCP.
   */
  tlsPsk?: { keyFor(identity: string): Buffer | undefined };
  /** Told of each TLS handshake that failed (a plain-TCP or keyless client on the TLS port, or one that hung up), with why. */
  onTlsError?: (address: string, err: Error) => void;
  /** Told of each request whose handler threw (answered 5012 DIAMETER_UNABLE_TO_COMPLY); counted in `stats()`. */
  onHandlerError?: (err: unknown, req: DiameterMessage, peer: DiameterPeer) => void;
}

export interface DiameterServer {
  port: number;
  peers(): DiameterPeer[];
  /** `handlerErrors`: requests whose handler threw, answered 5012. */
  stats(): { handlerErrors: number };
  /** DPR to every peer, then stop listening. */
  close(): Promise<void>;
}

export function handlerTable(regs: readonly HandlerRegistration[]): HandlerTable {
  const table: HandlerTable = new Map();
  for (const r of regs) {
    let byCode = table.get(r.applicationId);
    if (!byCode) table.set(r.applicationId, (byCode = new Map()));
    byCode.set(r.commandCode, r.handler);
  }
  return table;
}

export async function startDiameterServer(opts: DiameterServerOptions): Promise<DiameterServer> {
  const handlers = handlerTable(opts.handlers);
  const peers = new Set<DiameterPeer>();
  const handshakeMs = opts.handshakeMs ?? 10_000;
  let handlerErrors = 0;
  const onHandlerError = (err: unknown, req: DiameterMessage, peer: DiameterPeer): void => {
    handlerErrors++;
    opts.onHandlerError?.(err, req, peer);
  };
  const accept = (socket: Socket, pskIdentity?: string): void => {
    const peer = new DiameterPeer(socket, {
      local: opts.local,
      role: 'responder',
      handlers,
      onHandlerError,
      ...(opts.authorize ? { authorize: opts.authorize } : {}),
      ...(pskIdentity !== undefined ? { pskIdentity } : {}),
      ...(opts.watchdogMs !== undefined ? { watchdogMs: opts.watchdogMs } : {}),
      ...(opts.handshakeMs !== undefined ? { handshakeMs: opts.handshakeMs } : {}),
      ...(opts.maxMessageSize !== undefined ? { maxMessageSize: opts.maxMessageSize } : {}),
      ...(opts.maxIncomingInFlight !== undefined ? { maxIncomingInFlight: opts.maxIncomingInFlight } : {}),
      ...(opts.dictionary ? { dictionary: opts.dictionary } : {}),
    });
    peers.add(peer);
    peer.once('closed', () => peers.delete(peer));
    if (opts.onRefused) peer.once('refused', opts.onRefused);
  };
  let server: Server;
  if (opts.tlsPsk) {
    const { identities, ...tlsOptions } = pskServerOptions((id) => opts.tlsPsk!.keyFor(id), handshakeMs);
    const tlsServer = createTlsServer(tlsOptions, (socket: TLSSocket) => accept(socket, identities.get(socket)));
    // A failed handshake (no PSK, wrong key, plain TCP, too slow) ends that socket only.
    tlsServer.on('tlsClientError', (err, socket) => {
      opts.onTlsError?.(socket.remoteAddress ?? '', err);
      socket.destroy();
    });
    server = tlsServer;
  } else server = createServer((socket: Socket) => accept(socket));
  server.maxConnections = opts.maxConnections ?? 1024;
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    peers: () => [...peers],
    stats: () => ({ handlerErrors }),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...peers].map((p) => p.disconnect(undefined, 500)));
      await closed;
    },
  };
}
