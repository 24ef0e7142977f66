/** A bare `/metrics` endpoint on node:http, for roles that have no HTTP server of their own. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './registry.js';

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** `beforeRender` brings pulled counters up to date just before each scrape. */
export async function startMetricsServer(registry: MetricsRegistry, o: { host?: string; port?: number; beforeRender?: () => void } = {}): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    let body: string;
    try {
      o.beforeRender?.();
      body = registry.render();
    } catch {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
