/**
 * UDP transport for a RADIUS server: source filtering, duplicate detection
 * and one answer per request. What to answer is the handler's business; a
 * handler that throws or returns undefined means "send nothing".
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { sourceFilter } from './client-filter.js';
import { DuplicateCache } from './duplicate-cache.js';
import { literalFirstLookup } from '../lib/udp-lookup.js';

export type RadiusHandler = (packet: Buffer, from: RemoteInfo) => Promise<Buffer | undefined> | Buffer | undefined;

export interface UdpServerStats {
  received: number;
  sent: number;
  duplicatesResent: number;
  duplicatesInProgress: number;
  droppedUnknownClient: number;
  droppedByHandler: number;
  handlerErrors: number;
  /** Answers that could not be sent (a forged source port 0). */
  sendErrors: number;
}

export interface RadiusUdpServer {
  port: number;
  stats(): UdpServerStats;
  close(): Promise<void>;
}

export interface UdpServerOptions {
  host: string;
  port: number;
  handler: RadiusHandler;
  clients?: readonly string[];
  duplicateTtlMs?: number;
  /** SO_RCVBUF wanted (the kernel caps it at net.core.rmem_max). Default 4 MB. */
  recvBufferSize?: number;
  /** Told of handler failures; must not log packet contents (they may hold secrets). */
  onError?: (err: unknown) => void;
}

export async function startRadiusUdpServer(o: UdpServerOptions): Promise<RadiusUdpServer> {
  const allowed = sourceFilter(o.clients);
  const dups = new DuplicateCache(o.duplicateTtlMs);
  const stats: UdpServerStats = {
    received: 0,
    sent: 0,
    duplicatesResent: 0,
    duplicatesInProgress: 0,
    droppedUnknownClient: 0,
    droppedByHandler: 0,
    handlerErrors: 0,
    sendErrors: 0,
  };
  // A registration storm arrives as a burst; the default 208 KB buffer holds only a few hundred datagrams.
  const socket: Socket = createSocket({ type: isIP(o.host) === 6 ? 'udp6' : 'udp4', recvBufferSize: o.recvBufferSize ?? 4 << 20, lookup: literalFirstLookup });
  const send = (buf: Buffer, to: RemoteInfo): void => {
    stats.sent++;
    try {
      // No callback (one cost a tick per datagram): a send error is the client's retransmission to solve.
      socket.send(buf, to.port, to.address);
    } catch {
      // Node throws at once for a port it will not send to (0: a forged source port); thrown here it ended the process.
      stats.sent--;
      stats.sendErrors++;
    }
  };

  socket.on('message', (msg, from) => {
    stats.received++;
    if (!allowed(from.address)) {
      stats.droppedUnknownClient++;
      return;
    }
    const key = msg.length >= 20 ? DuplicateCache.key(from.address, from.port, msg) : undefined;
    if (key) {
      const state = dups.begin(key);
      if (state.kind === 'answered') {
        stats.duplicatesResent++;
        send(state.response, from);
        return;
      }
      if (state.kind === 'in-progress') {
        stats.duplicatesInProgress++;
        return;
      }
    }
    const done = (response: Buffer | undefined): void => {
      if (!response) {
        stats.droppedByHandler++;
        if (key) dups.forget(key);
        return;
      }
      if (key) dups.answered(key, response);
      send(response, from);
    };
    const failed = (err: unknown): void => {
      stats.handlerErrors++;
      if (key) dups.forget(key);
      o.onError?.(err);
    };
    try {
      const r = o.handler(msg, from);
      if (r instanceof Promise) r.then(done, failed);
      else done(r);
    } catch (err) {
      failed(err);
    }
  });
  socket.on('error', (err) => o.onError?.(err));

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(o.port, o.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });

  return {
    port: socket.address().port,
    stats: () => ({ ...stats }),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
