import { createSocket, type Socket } from 'node:dgram';
import { startRadiusAucServer, type RadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import { RadiusAucClient, type RadiusAucClientOptions } from '../../src/adapters/radius/auc-client.js';
import { FakeAuc } from './fake-auc.js';

export const SECRET = 'lab-shared-secret-0123';

export async function startPair(opts: { clients?: string[]; client?: Partial<RadiusAucClientOptions> } = {}): Promise<{
  auc: FakeAuc;
  server: RadiusAucServer;
  client: RadiusAucClient;
  close(): Promise<void>;
}> {
  const auc = new FakeAuc();
  const server = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service: auc, clients: opts.clients });
  const client = new RadiusAucClient({
    secret: SECRET,
    servers: [{ host: '127.0.0.1', authPort: server.authPort, acctPort: server.acctPort }],
    timeoutMs: 300,
    retries: 1,
    totalTimeoutMs: 2000,
    ...opts.client,
  });
  return { auc, server, client, close: async () => Promise.all([client.close(), server.close()]).then(() => undefined) };
}

/** Sends raw bytes and collects whatever comes back within `waitMs`. */
export async function sendRaw(port: number, packet: Buffer, waitMs = 300): Promise<Buffer[]> {
  const sock: Socket = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r, j) => sock.send(packet, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  await new Promise((r) => setTimeout(r, waitMs));
  await new Promise<void>((r) => sock.close(() => r()));
  return got;
}

/** A UDP socket that swallows everything: a server that is down but whose port is not closed. */
export async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, close: () => new Promise<void>((r) => sock.close(() => r())) };
}
