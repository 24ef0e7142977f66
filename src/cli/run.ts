import { timingSafeEqual } from 'node:crypto';
import { startAuc } from '../auc/run.js';
import type { Config } from '../config/load.js';
import { createLogger, type Logger } from '../log/logger.js';
import { sbcKey, startSbcRole } from '../sbc/role.js';
import { softswitchIdentity, startSoftswitchRole, type RunningRole } from '../softswitch/role.js';
import { ensureDataDir, type Store } from '../store/index.js';
import { announceStore, configFrom, UsageError, type GlobalFlags } from './context.js';

export type RoleName = 'auc' | 'softswitch' | 'sbc';

/**
 * `keyswitch up` provisions the identities of its own SBC and softswitch at
 * its AuC on first start, so that the system works with no setup.
 */
async function provisionOwnProxies(store: Store, cfg: Config, logger: Logger): Promise<void> {
  const own: { id: string; key: Buffer }[] = [{ id: cfg.sbc.idsp, key: sbcKey(cfg) }];
  const sw = softswitchIdentity(cfg);
  if (sw) own.push(sw);
  for (const p of own) {
    const existing = await store.proxies.key(p.id);
    if (!existing) {
      await store.proxies.create(p.id, p.key);
      await store.audit.add('keyswitch-up', 'proxy.create', p.id, { source: 'first start' });
      logger.info({ idsp: p.id }, 'provisioned own proxy identity at the AuC');
    } else if (!timingSafeEqual(existing.key, p.key)) {
      throw new UsageError(`proxy ${p.id} is provisioned at the AuC with another key than this node's; rotate it or configure the matching key`);
    }
  }
}

/** Starts the named roles in this process, prints where each listens, stops cleanly on SIGINT/SIGTERM. */
export async function runRoles(roles: RoleName[], flags: GlobalFlags, extra: Record<string, unknown>): Promise<void> {
  const cfg = configFrom(flags, extra);
  announceStore(cfg);
  // A role's first start makes its data directory (0700); one-shot commands need --init for that.
  ensureDataDir(cfg.dataDir, true);
  const logger = createLogger(cfg.log.level);
  const running: RunningRole[] = [];
  const stopAll = async () => {
    for (const r of running.reverse()) await r.stop().catch((err: Error) => logger.warn({ err: err.message }, 'stop failed'));
  };
  try {
    let store: Store | undefined;
    if (roles.includes('auc')) {
      const auc = await startAuc(cfg, logger);
      running.push(auc);
      store = auc.store;
      if (roles.includes('sbc')) await provisionOwnProxies(store, cfg, logger);
    }
    if (roles.includes('softswitch')) running.push(await startSoftswitchRole(cfg, logger, { store }));
    if (roles.includes('sbc')) running.push(await startSbcRole(cfg, logger, { store }));
  } catch (err) {
    await stopAll();
    throw err;
  }
  console.log(`keyswitch is up (data ${cfg.dataDir}${cfg.db.url ? ', PostgreSQL' : ', embedded SQLite'}):`);
  for (const r of running) for (const l of r.listening) console.log(`  ${l.name.padEnd(28)} ${l.address}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  logger.info('stopping');
  await stopAll();
}
