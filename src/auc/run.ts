import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { openStoreFromConfig, type Store } from '../store/index.js';
import { buildApi } from './api/server.js';
import { consoleSettings } from './console/settings.js';
import { Auc } from './auc.js';
import { configuredOrStoredSecret } from '../config/secrets.js';
import { startDiameterAucServer } from '../adapters/diameter/auc-server.js';
import { diameterPskSecret, diameterTlsMode, softswitchOriginHost } from '../config/diameter-link.js';
import { startRadiusAucServer } from '../adapters/radius/auc-server.js';
import { listenAddress, startListener, type Health } from '../metrics/health.js';
import { MetricsRegistry, type MetricsHistory } from '../metrics/index.js';
import { aucMetrics, dashboardHistory, observeApi, observeAucService } from './metrics.js';
import type { LiveRoles } from '../control/live-roles.js';
import { acquireIds } from '../ids/service.js';
import { idsSharedFromConfig } from '../store/redis/ids-shared.js';
import { join } from 'node:path';
import { startLicenceServer, type RunningLicence } from './licence/run.js';

export interface RunningAuc {
  store: Store;
  auc: Auc;
  api: FastifyInstance;
  radiusPorts: { auth: number; acct: number };
  diameterPort: number;
  /** The voicemail licence server (HTTPS, docs/voicemail.md). */
  licence: RunningLicence;
  listening: { name: string; address: string }[];
  /** The process's registry (the AuC's metrics are in it) and the dashboard's rates over the last hour (docs/metrics.md). */
  metrics: MetricsRegistry;
  history: MetricsHistory;
  stop(): Promise<void>;
}

/**
 * Starts the AuC role: store, core, provisioning API, RADIUS and Diameter.
 * A listener that cannot start closes what this call opened and throws a
 * ListenerError naming it (a half-started AuC must not stay up). `health`
 * (one per process) gets each listener; the API's /healthz answers from it.
 */
export async function startAuc(cfg: Config, logger: Logger, opts: { health?: Health; store?: Store; live?: LiveRoles; metrics?: MetricsRegistry; totals?: Pick<MetricsRegistry, 'total'> } = {}): Promise<RunningAuc> {
  const store = opts.store ?? (await openStoreFromConfig(cfg, { onNotice: (line) => logger.warn(line) }));
  const opened: Array<{ close(): Promise<unknown> }> = [];
  try {
    const registry = opts.metrics ?? new MetricsRegistry();
    return await startAucOn(store, cfg, logger, opts.health, opened, opts.live, registry, opts.totals ?? registry);
  } catch (err) {
    for (const o of opened.reverse()) await o.close().catch(() => undefined);
    if (!opts.store) await store.close().catch(() => undefined);
    throw err;
  }
}

async function startAucOn(store: Store, cfg: Config, logger: Logger, health: Health | undefined, opened: Array<{ close(): Promise<unknown> }>, live: LiveRoles | undefined, registry: MetricsRegistry, totals: Pick<MetricsRegistry, 'total'>): Promise<RunningAuc> {
  const metrics = aucMetrics(registry);
  // sampled from the start, so that the console's dashboard has the last hour once the process has run one
  // under `keyswitch up` the other roles' counters come from their processes (`totals`)
  const history = dashboardHistory(totals).start();
  opened.push({ close: async () => history.stop() });
  const auc = new Auc(store, { challengeTtlSeconds: cfg.auc.challengeTtlSeconds, lockout: cfg.auc.lockout, logger: logger.child({ role: 'auc' }) });
  // the console's dashboard draws its rates from the same history (docs/console.md)
  // the process's intrusion detection screens the API too (shared with the SBC under `up`; docs/ids.md)
  const ids = acquireIds(cfg.ids, { logger, metrics: registry, stateDir: join(cfg.dataDir, 'ids'), shared: idsSharedFromConfig(cfg, logger) });
  if (ids) opened.push({ close: async () => ids.release() });
  const api = await buildApi({ store, logger, bodyLimit: cfg.auc.api.bodyLimitBytes, ...(health ? { health } : {}), ...(live ? { live } : {}), ...(ids ? { ids: { engine: ids.service.engine, reload: ids.service.reload, stateDir: join(cfg.dataDir, 'ids') } } : {}), console: { ...consoleSettings(cfg.auc.console), rates: history } });
  opened.push(api);
  observeApi(api, metrics);
  await startListener('AuC provisioning API', listenAddress(cfg.auc.api.host, cfg.auc.api.port, 'http'), () => api.listen({ host: cfg.auc.api.host, port: cfg.auc.api.port }));
  const addr = api.server.address();
  const apiUrl = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  // The softswitch started by `keyswitch up` (or separately with the same data dir) reads the same file.
  const radiusSecret = configuredOrStoredSecret(cfg.dataDir, 'radius.secret', cfg.auc.radius.secret);
  const radius = await startListener('AuC RADIUS', `${listenAddress(cfg.auc.radius.host, cfg.auc.radius.authPort)} and :${cfg.auc.radius.acctPort} (udp)`, () => startRadiusAucServer({
    host: cfg.auc.radius.host,
    authPort: cfg.auc.radius.authPort,
    acctPort: cfg.auc.radius.acctPort,
    secret: radiusSecret,
    service: observeAucService(auc, 'radius', metrics),
    clients: cfg.auc.radius.clients.length ? cfg.auc.radius.clients : undefined,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'RADIUS request failed'),
  }));
  opened.push(radius);
  // Diameter peers: the allow-list (default: the softswitch of `keyswitch up`, loopback only) and TLS-PSK (docs/diameter.md).
  const diameterTls = diameterTlsMode(cfg) === 'psk';
  const diameter = await startListener('AuC Diameter', listenAddress(cfg.auc.diameter.host, cfg.auc.diameter.port, diameterTls ? 'tls-psk' : 'tcp'), () => startDiameterAucServer({
    host: cfg.auc.diameter.host,
    port: cfg.auc.diameter.port,
    originHost: cfg.auc.diameter.originHost,
    originRealm: cfg.auc.diameter.originRealm,
    service: observeAucService(auc, 'diameter', metrics),
    peers: cfg.auc.diameter.peers.length ? cfg.auc.diameter.peers : [{ originHost: softswitchOriginHost(cfg), addresses: ['127.0.0.1', '::1'] }],
    ...(diameterTls ? { tlsPskSecret: diameterPskSecret(cfg) } : {}),
    onRefused: (info) => logger.warn(info, 'Diameter peer refused'),
    logger: logger.child({ role: 'auc' }),
  }));
  opened.push(diameter);
  // the voicemail licence server and its page, HTTPS on the same store (docs/voicemail.md)
  const licence = await startLicenceServer(store, cfg.auc.licence, {
    dataDir: cfg.dataDir,
    logger,
    sessionIdleSeconds: cfg.auc.console.sessionIdleSeconds,
    sessionMaxSeconds: cfg.auc.console.sessionMaxSeconds,
  });
  opened.push(licence.app);
  const served = health
    ? [
        health.listener('AuC provisioning API', listenAddress(cfg.auc.api.host, typeof addr === 'object' && addr ? addr.port : cfg.auc.api.port, 'http'), () => api.server.listening),
        health.listener('AuC RADIUS', `${listenAddress(cfg.auc.radius.host, radius.authPort)} and :${radius.acctPort} (udp)`),
        health.listener('AuC Diameter', listenAddress(cfg.auc.diameter.host, diameter.port, diameterTls ? 'tls-psk' : 'tcp')),
        health.listener('AuC licence server', listenAddress(cfg.auc.licence.host, licence.port, 'https'), () => licence.app.server.listening),
      ]
    : [];
  const sweeper = setInterval(() => {
    auc.sweep().catch((err: Error) => logger.warn({ err: err.message }, 'sweep failed'));
  }, 60_000);
  sweeper.unref();
  logger.info({ db: store.db.describe }, 'AuC store open');
  return {
    store,
    auc,
    api,
    radiusPorts: { auth: radius.authPort, acct: radius.acctPort },
    diameterPort: diameter.port,
    licence,
    metrics: registry,
    history,
    listening: [
      { name: 'AuC provisioning API', address: `${apiUrl} (OpenAPI at ${apiUrl}/docs)` },
      { name: 'AuC RADIUS', address: `${cfg.auc.radius.host} udp ${radius.authPort} (auth), ${radius.acctPort} (accounting)` },
      { name: 'AuC Diameter (Cx)', address: `${cfg.auc.diameter.host} ${diameterTls ? 'tls-psk' : 'tcp'} ${diameter.port}` },
      { name: 'AuC licence server (voicemail)', address: `${licence.url} (page at ${licence.url}/voicemail)` },
    ],
    async stop() {
      clearInterval(sweeper);
      history.stop();
      // the IDS holds its own Redis connections when shared: released, or the process never exits
      ids?.release();
      for (const l of served) l.down('stopped');
      await radius.close();
      await diameter.close();
      await licence.app.close();
      await api.close();
      await store.close();
    },
  };
}
