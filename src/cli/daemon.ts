import { createLogger, useProcessLogger, type Logger } from '../log/logger.js';
import { Health } from '../metrics/health.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { describeStore, ensureDataDir } from '../store/index.js';
import type { Config } from '../config/load.js';
import { configFrom, type GlobalFlags } from './context.js';

export interface Daemon {
  cfg: Config;
  logger: Logger;
  /** The process's registry: every role of the process counts into it, with the process metrics (docs/metrics.md). */
  metrics: MetricsRegistry;
  /** The process's health: every listener of every role, the store and the disk (docs/auc.md, "Health"). */
  health: Health;
}

/**
 * What a long-running process (a role, `up`'s supervisor) sets up before its roles: the
 * configuration, its data directory (a daemon's first start makes it, 0700; one-shot commands
 * need --init), and a logger through which knex and Node's own warnings log too, so that every
 * line of a daemon's stderr is a JSON event; which store it uses is the first of them.
 */
export function startDaemon(flags: GlobalFlags, extra: Record<string, unknown>): Daemon {
  const cfg = configFrom(flags, extra);
  ensureDataDir(cfg.dataDir, true);
  const logger = createLogger(cfg.log.level);
  useProcessLogger(logger);
  logger.info({ store: describeStore({ url: cfg.db.url || undefined, dataDir: cfg.dataDir }) }, 'store');
  const metrics = new MetricsRegistry();
  metrics.collectProcessMetrics();
  return { cfg, logger, metrics, health: new Health() };
}
