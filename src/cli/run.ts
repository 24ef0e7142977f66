import type { MetricsRegistry } from '../metrics/registry.js';
import type { RunningRole } from '../contracts/role.js';
import { openStoreFromConfig, type Store } from '../store/index.js';
import { isUserError, type GlobalFlags } from './context.js';
import { startDaemon } from './daemon.js';
import { type Health, diskCheck, listenAddress, startListener } from '../metrics/health.js';
import { startMetricsServer } from '../metrics/server.js';
import { storeCheck } from '../store/health.js';
import type { LiveRoles } from '../control/live-roles.js';

export type RoleName = 'auc' | 'softswitch' | 'sbc' | 'media';

/**
 * A role that cannot start must not leave the process running half-started:
 * what did start is stopped (for at most a few seconds: a stop that hangs
 * must not keep a dead process alive either), the reason goes to stderr on
 * one line, and the process exits non-zero whatever handles remain open.
 */
async function failedStart(err: unknown, stopAll: () => Promise<void>): Promise<never> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([stopAll().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 3000)))]);
  clearTimeout(timer);
  const message = String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`keyswitch: ${message}\n`);
  if (process.env.KEYSWITCH_DEBUG && (err as Error)?.stack) process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(isUserError(err) ? 2 : 1);
}

/**
 * The status server of a process: Prometheus `/metrics` (every role of the
 * process, and the process) and `/healthz`. `up` serves it at
 * metrics.address, a role run alone at its own address (docs/metrics.md).
 */
async function startStatusServer(name: string, at: { host: string; port: number }, health: Health, registry: MetricsRegistry, list: { health?: string; metrics: string }): Promise<RunningRole> {
  const server = await startListener(name, listenAddress(at.host, at.port, 'http'), () => startMetricsServer(registry, { host: at.host, port: at.port, health }));
  const base = `http://${listenAddress(at.host, server.port)}`;
  const served = health.listener(name, listenAddress(at.host, server.port, 'http'), () => server.server.listening);
  return {
    listening: [...(list.health ? [{ name: list.health, address: `${base}/healthz` }] : []), { name: list.metrics, address: `${base}/metrics` }],
    stop: async () => {
      served.down('stopped');
      await server.close();
    },
  };
}

/** Starts the named roles in this process, prints where each listens, stops cleanly on SIGINT/SIGTERM. */
export async function runRoles(roles: RoleName[], flags: GlobalFlags, extra: Record<string, unknown>): Promise<void> {
  // `up`: one process per role under a supervisor (src/cli/up-supervisor.ts); a forked role knows its name from the environment.
  if (roles.length > 1) {
    const { UP_ROLE_ENV, UP_ROLES } = await import('./up-ipc.js');
    const role = UP_ROLES.find((r) => r === process.env[UP_ROLE_ENV]);
    if (role && process.send) {
      delete process.env[UP_ROLE_ENV];
      await import('./role-packages.js');
      return (await import('./up-child.js')).runUpChild(role, flags, extra);
    }
    return (await import('./up-supervisor.js')).superviseUp(UP_ROLES.filter((r) => (roles as string[]).includes(r)), flags, extra);
  }
  await import('./role-packages.js');
  const { cfg, logger, metrics, health } = startDaemon(flags, extra);
  // Roles of this process the AuC's operator API reaches directly (docs/operations.md).
  const live: LiveRoles = {};
  const running: RunningRole[] = [];
  const stopAll = async () => {
    for (const r of running.reverse()) await r.stop().catch((err: Error) => logger.warn({ err: err.message }, 'stop failed'));
  };
  try {
    let store: Store;
    if (roles.includes('auc')) {
      // a role's code is loaded only where it runs: one-shot commands and each process of `up` load no other (main --help: 0.48 → 0.22 s CPU)
      const { startAuc } = await import('../auc/run.js');
      const auc = await startAuc(cfg, logger, { health, live, metrics });
      running.push(auc);
      store = auc.store;
      if (roles.includes('sbc')) await (await import('./own-proxies.js')).provisionOwnProxies(store, cfg, logger);
    } else {
      // roles without the AuC share one store, which /healthz checks
      const own = await openStoreFromConfig(cfg, { onNotice: (line) => logger.warn(line) });
      running.push({ listening: [], stop: () => own.close() });
      store = own;
    }
    health.check('store', storeCheck(store));
    health.check('disk', diskCheck(cfg.dataDir, cfg.health.minFreeMb));
    if (roles.includes('softswitch')) running.push(await (await import('../softswitch/role.js')).startSoftswitchRole(cfg, logger, { store, health, metrics }));
    if (roles.includes('sbc')) running.push(await (await import('../sbc/role.js')).startSbcRole(cfg, logger, { store, health, live, metrics }));
    // voicemail (docs/voicemail.md)
    if (roles.includes('media')) running.push(await (await import('../media/role.js')).startMediaRole(cfg, logger, { store, health, metrics }));
    if (roles.length > 1) {
      if (cfg.metrics.address) running.push(await startStatusServer('metrics', cfg.metrics.address, health, metrics, { metrics: 'metrics (and /healthz)' }));
    } else if (roles.includes('auc')) {
      if (cfg.auc.metrics) running.push(await startStatusServer('AuC metrics', cfg.auc.metrics, health, metrics, { metrics: 'AuC metrics' }));
    } else if (!roles.includes('media')) {
      const role = roles.includes('softswitch') ? 'softswitch' : 'sbc';
      const at = role === 'softswitch' ? cfg.softswitch.health : cfg.sbc.health;
      if (at) running.push(await startStatusServer(`${role} health`, at, health, metrics, { health: `${role} health`, metrics: `${role} metrics` }));
    }
  } catch (err) {
    await failedStart(err, stopAll);
  }
  // Listen for the signals before saying we are up: whoever reads that line may stop us at once.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  console.log(`keyswitch is up (data ${cfg.dataDir}${cfg.db.url ? ', PostgreSQL' : ', embedded SQLite'}):`);
  for (const r of running) for (const l of r.listening) console.log(`  ${l.name.padEnd(28)} ${l.address}`);
  await stopped;
  logger.info('stopping');
  await stopAll();
}
