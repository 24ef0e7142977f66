import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { openStore, type Store } from '../store/index.js';
import { buildApi } from './api/server.js';
import { Auc } from './auc.js';

export interface RunningAuc {
  store: Store;
  auc: Auc;
  api: FastifyInstance;
  listening: { name: string; address: string }[];
  stop(): Promise<void>;
}

/** Starts the AuC role: store, core and provisioning API (wire servers join here). */
export async function startAuc(cfg: Config, logger: Logger): Promise<RunningAuc> {
  const store = await openStore({ dataDir: cfg.dataDir, url: cfg.db.url || undefined, masterKeyHex: cfg.masterKey || undefined });
  const auc = new Auc(store, { challengeTtlSeconds: cfg.auc.challengeTtlSeconds, lockout: cfg.auc.lockout });
  const api = await buildApi({ store, logger, bodyLimit: cfg.auc.api.bodyLimit });
  await api.listen({ host: cfg.auc.api.host, port: cfg.auc.api.port });
  const addr = api.server.address();
  const apiUrl = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  const sweeper = setInterval(() => {
    auc.sweep().catch((err: Error) => logger.warn({ err: err.message }, 'sweep failed'));
  }, 60_000);
  sweeper.unref();
  logger.info({ db: store.db.describe }, 'AuC store open');
  return {
    store,
    auc,
    api,
    listening: [{ name: 'AuC provisioning API', address: `${apiUrl} (OpenAPI at ${apiUrl}/docs)` }],
    async stop() {
      clearInterval(sweeper);
      await api.close();
      await store.close();
    },
  };
}
