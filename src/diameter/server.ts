/** A Diameter responder over TCP: accepts peers, answers CER, dispatches requests to handlers. */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Dictionary } from './dictionary.js';
import type { LocalIdentity } from './identity.js';
import { DiameterPeer, type HandlerTable, type RequestHandler } from './peer.js';

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
}

export interface DiameterServer {
  port: number;
  peers(): DiameterPeer[];
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
  const server = createServer((socket: Socket) => {
    const peer = new DiameterPeer(socket, {
      local: opts.local,
      role: 'responder',
      handlers,
      ...(opts.watchdogMs !== undefined ? { watchdogMs: opts.watchdogMs } : {}),
      ...(opts.handshakeMs !== undefined ? { handshakeMs: opts.handshakeMs } : {}),
      ...(opts.maxMessageSize !== undefined ? { maxMessageSize: opts.maxMessageSize } : {}),
      ...(opts.maxIncomingInFlight !== undefined ? { maxIncomingInFlight: opts.maxIncomingInFlight } : {}),
      ...(opts.dictionary ? { dictionary: opts.dictionary } : {}),
    });
    peers.add(peer);
    peer.once('closed', () => peers.delete(peer));
  });
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
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...peers].map((p) => p.disconnect(undefined, 500)));
      await closed;
    },
  };
}
