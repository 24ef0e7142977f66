import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { openStoreFromConfig, type Store } from '../store/index.js';
import { buildApi } from './api/server.js';
import { Auc } from './auc.js';
import { configuredOrStoredSecret } from '../config/secrets.js';
import { parseDiameterPeers, startDiameterAucServer } from './diameter-server.js';
import { diameterPskSecret, diameterTlsMode, softswitchOriginHost } from '../config/diameter-link.js';
import { startRadiusAucServer } from './radius-server.js';

export interface RunningAuc {
  store: Store;
  auc: Auc;
  api: FastifyInstance;
  radiusPorts: { auth: number; acct: number };
  diameterPort: number;
  listening: { name: string; address: string }[];
  stop(): Promise<void>;
}

/** Starts the AuC role: store, core and provisioning API (wire servers join here). */
export async function startAuc(cfg: Config, logger: Logger): Promise<RunningAuc> {
  const store = await openStoreFromConfig(cfg);
  const auc = new Auc(store, { challengeTtlSeconds: cfg.auc.challengeTtlSeconds, lockout: cfg.auc.lockout });
  const api = await buildApi({ store, logger, bodyLimit: cfg.auc.api.bodyLimit });
  await api.listen({ host: cfg.auc.api.host, port: cfg.auc.api.port });
  const addr = api.server.address();
  const apiUrl = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  // The softswitch started by `keyswitch up` (or separately with the same data dir) reads the same file.
  const radiusSecret = configuredOrStoredSecret(cfg.dataDir, 'radius.secret', cfg.auc.radius.secret);
  const radius = await startRadiusAucServer({
    host: cfg.auc.radius.host,
    authPort: cfg.auc.radius.authPort,
    acctPort: cfg.auc.radius.acctPort,
    secret: radiusSecret,
    service: auc,
    clients: cfg.auc.radius.clients ? cfg.auc.radius.clients.split(',').map((c) => c.trim()).filter(Boolean) : undefined,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'RADIUS request failed'),
  });
  // Diameter peers: the allow-list (default: the softswitch of `keyswitch up`, loopback only) and TLS-PSK (docs/diameter.md).
  const diameterTls = diameterTlsMode(cfg) === 'psk';
  const diameter = await startDiameterAucServer({
    host: cfg.auc.diameter.host,
    port: cfg.auc.diameter.port,
    originHost: cfg.auc.diameter.originHost,
    originRealm: cfg.auc.diameter.originRealm,
    service: auc,
    peers: cfg.auc.diameter.peers ? parseDiameterPeers(cfg.auc.diameter.peers) : [{ originHost: softswitchOriginHost(cfg), addresses: ['127.0.0.1', '::1'] }],
    ...(diameterTls ? { tlsPskSecret: diameterPskSecret(cfg) } : {}),
    onRefused: (info) => logger.warn(info, 'Diameter peer refused'),
  });
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
    listening: [
      { name: 'AuC provisioning API', address: `${apiUrl} (OpenAPI at ${apiUrl}/docs)` },
      { name: 'AuC RADIUS', address: `${cfg.auc.radius.host} udp ${radius.authPort} (auth), ${radius.acctPort} (accounting)` },
      { name: 'AuC Diameter (Cx)', address: `${cfg.auc.diameter.host} ${diameterTls ? 'tls-psk' : 'tcp'} ${diameter.port}` },
    ],
    async stop() {
      clearInterval(sweeper);
      await radius.close();
      await diameter.close();
      await api.close();
      await store.close();
    },
  };
}
