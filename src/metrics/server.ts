/**
 * A bare HTTP server on node:http: Prometheus text at `/metrics` (when given
 * a registry) and the process's health at `/healthz` (when given a Health).
 * Every metrics address of keyswitch is one of these (docs/metrics.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { healthAnswer, type Health } from './health.js';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './registry.js';

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  host?: string;
  port?: number;
  /** Brings pulled counters up to date just before each scrape. */
  beforeRender?: () => void;
  /** Serve `/healthz` from it (200 ok, 503 naming what is down). */
  health?: Pick<Health, 'report'>;
}

/** Nothing here is for a browser: no sniffing, no framing, no caching, no referrer. */
const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

/** What is served at /metrics: a registry, or `keyswitch up`'s merge of its roles' (src/cli/up-supervisor.ts). */
export async function startMetricsServer(registry: Pick<MetricsRegistry, 'render'> | undefined, o: MetricsServerOptions = {}): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...COMMON_HEADERS, allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz' && o.health) {
      healthAnswer(o.health).then(
        ({ status, body }) => {
          const text = JSON.stringify(body);
          res.writeHead(status, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        () => res.writeHead(503, COMMON_HEADERS).end(),
      );
      return;
    }
    if (path !== '/metrics' || !registry) {
      res.writeHead(404, COMMON_HEADERS).end();
      return;
    }
    const reg = registry;
    void (async () => {
      o.beforeRender?.();
      return reg.render();
    })().then(
      (body) => {
        res.writeHead(200, { ...COMMON_HEADERS, 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => res.writeHead(500, COMMON_HEADERS).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // after start an error (e.g. EMFILE on accept) must not end the process; /healthz asks server.listening
  server.on('error', () => undefined);
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
