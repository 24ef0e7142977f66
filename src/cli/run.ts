import { startAuc } from '../auc/run.js';
import { createLogger } from '../log/logger.js';
import { configFrom, type GlobalFlags } from './context.js';

export type RoleName = 'auc';

interface Running {
  listening: { name: string; address: string }[];
  stop(): Promise<void>;
}

/** Starts the named roles in this process, prints where each listens, stops cleanly on SIGINT/SIGTERM. */
export async function runRoles(roles: RoleName[], flags: GlobalFlags, extra: Record<string, unknown>): Promise<void> {
  const cfg = configFrom(flags, extra);
  const logger = createLogger(cfg.log.level);
  const running: Running[] = [];
  for (const role of roles) {
    if (role === 'auc') running.push(await startAuc(cfg, logger));
  }
  console.log(`keyswitch is up (data ${cfg.dataDir}${cfg.db.url ? ', PostgreSQL' : ', embedded SQLite'}):`);
  for (const r of running) for (const l of r.listening) console.log(`  ${l.name.padEnd(28)} ${l.address}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('stopping');
  for (const r of running.reverse()) await r.stop();
}
