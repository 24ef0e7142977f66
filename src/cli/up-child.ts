/**
 * One role of `keyswitch up` in its own process, forked by the supervisor
 * (src/cli/up-supervisor.ts) so that the roles use every core. The role is
 * started as `keyswitch auc|softswitch|sbc` would start it, without a status
 * server of its own: the supervisor serves metrics.address for all roles and
 * asks this process for its registry and health over IPC. Nothing is printed
 * on stdout: the listeners go to the supervisor, which prints them all once.
 */
import { coreLinkKey } from '../config/secrets.js';
import type { LiveRoles, LiveSbc } from '../control/live-roles.js';
import { createLogger, useProcessLogger } from '../log/logger.js';
import { diskCheck, Health, type HealthReport } from '../metrics/health.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { storeCheck } from '../store/health.js';
import { openStoreFromConfig } from '../store/index.js';
import { configFrom, isUserError, type GlobalFlags } from './context.js';
import { answer, Questions, type FromChild, type LiveCall, type Listening, type Question, type ToChild, type UpRole } from './up-ipc.js';

interface Running {
  listening: Listening[];
  stop(): Promise<void>;
}

/** How long the AuC's API waits for the SBC's process before answering without it. */
const LIVE_TIMEOUT_MS = 3000;

function send(m: FromChild): boolean {
  return process.send?.(m) ?? false;
}

/** Sends and waits until the message is out (before the process exits). */
function sent(m: FromChild): Promise<void> {
  return new Promise((resolve) => {
    try {
      if (!process.send) resolve();
      else process.send(m, undefined, {}, () => resolve());
    } catch {
      resolve();
    }
  });
}

export async function runUpChild(role: UpRole, flags: GlobalFlags, extra: Record<string, unknown>): Promise<void> {
  process.title = `keyswitch up: ${role}`;
  const cfg = configFrom(flags, extra);
  const logger = createLogger(cfg.log.level);
  useProcessLogger(logger);
  const metrics = new MetricsRegistry();
  metrics.collectProcessMetrics();
  const health = new Health();
  const live: LiveRoles = {};
  const questions = new Questions((m) => send(m));
  const running: Running[] = [];
  let stopping: Promise<void> | undefined;

  const stopAll = (code: number): Promise<void> =>
    (stopping ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const all = (async () => {
        for (const r of running.reverse()) await r.stop().catch((err: Error) => logger.warn({ err: err.message, role }, 'stop failed'));
      })();
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, 8000)))]);
      clearTimeout(timer);
      process.exit(code);
    })());

  const onQuestion = (id: number, q: Question): void => {
    void answer(id, async () => {
      switch (q.op) {
        case 'metrics':
          // run with --expose-gc (bench:memory), the heap reported is what survives a full collection
          (globalThis as { gc?: () => void }).gc?.();
          return metrics.render();
        case 'health':
          return health.report({ local: true });
        case 'totals':
          return Object.fromEntries(q.names.map((n) => [n, metrics.total(n)]));
        case 'live':
          if (!live.sbc) throw new Error('no SBC in this process');
          return liveCall(live.sbc, q.call);
      }
    }, (a) => void send(a));
  };

  let started: (() => void) | undefined;
  const start = new Promise<void>((resolve) => (started = resolve));
  process.on('message', (m: ToChild) => {
    if (m.t === 'start') started?.();
    else if (m.t === 'req') onQuestion(m.id, m);
    else if (m.t === 'res') questions.settle(m);
    else if (m.t === 'sbc') {
      if (m.live) live.sbc = remoteSbc(m.live, questions);
      else delete live.sbc;
    }
  });
  send({ t: 'loaded' });
  // The supervisor stops every role with SIGTERM; SIGINT reaches us too when a terminal's Ctrl-C signals the whole group.
  process.once('SIGTERM', () => void stopAll(0));
  process.once('SIGINT', () => void stopAll(0));
  // The supervisor is gone (killed): a role must not outlive it holding its ports.
  process.once('disconnect', () => void stopAll(0));

  await start;
  if (stopping) return;
  try {
    if (role === 'auc') {
      const { startAuc } = await import('../auc/run.js');
      const auc = await startAuc(cfg, logger, { health, live, metrics, totals: siblingTotals(metrics, questions) });
      running.push(auc);
      const { provisionOwnProxies } = await import('./own-proxies.js');
      await provisionOwnProxies(auc.store, cfg, logger);
      // generated here, before the softswitch and the SBC start at the same moment and both read it
      coreLinkKey(cfg.dataDir, cfg.coreLink.key);
      health.check('store', storeCheck(auc.store));
    } else {
      const store = await openStoreFromConfig(cfg, { onNotice: (line) => logger.warn(line) });
      running.push({ listening: [], stop: () => store.close() });
      health.check('store', storeCheck(store));
      if (role === 'softswitch') {
        const { startSoftswitchRole } = await import('../softswitch/role.js');
        running.push(await startSoftswitchRole(cfg, logger, { store, health, metrics }));
      } else if (role === 'media') {
        // voicemail (docs/voicemail.md)
        const { startMediaRole } = await import('../media/role.js');
        running.push(await startMediaRole(cfg, logger, { store, health, metrics }));
      } else if (role === 'sbc') {
        const { startSbcRole } = await import('../sbc/role.js');
        running.push(await startSbcRole(cfg, logger, { store, health, live, metrics }));
      } else {
        // the voicemail media server (docs/voicemail.md)
        const { startMediaRole } = await import('../media/role.js');
        running.push(await startMediaRole(cfg, logger, { store, health, metrics }));
      }
    }
    health.check('disk', diskCheck(cfg.dataDir, cfg.health.minFreeMb));
    // The API's /healthz (the AuC's) answers for every role of `up`, as it did with one process.
    if (role === 'auc') health.remote(() => questions.ask<HealthReport>({ op: 'health' }, 2500));
  } catch (err) {
    const message = String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, ' ');
    if (process.env.KEYSWITCH_DEBUG && (err as Error)?.stack) process.stderr.write(`${(err as Error).stack}\n`);
    await sent({ t: 'failed', message, user: isUserError(err) });
    await stopAll(isUserError(err) ? 2 : 1);
    return;
  }
  const sbc = role === 'sbc' && live.sbc ? { instance: live.sbc.instance, idsp: live.sbc.idsp } : undefined;
  send({ t: 'ready', listening: running.flatMap((r) => r.listening), ...(sbc ? { sbc } : {}) });
}

/**
 * The console's dashboard (src/metrics/history.ts) follows counters of every
 * role; under `up` the softswitch's and the SBC's are in their processes. A
 * name asked once is fetched from them every 15 s (the dashboard samples
 * every minute), summed over their series, and added to the AuC's own.
 */
function siblingTotals(local: MetricsRegistry, q: Questions): Pick<MetricsRegistry, 'total'> {
  const remote = new Map<string, number>();
  const refresh = () => {
    if (remote.size === 0) return;
    q.ask<Record<string, number>>({ op: 'totals', names: [...remote.keys()] }, 5000).then(
      (t) => {
        for (const [k, v] of Object.entries(t)) if (remote.has(k) && Number.isFinite(v)) remote.set(k, v);
      },
      () => undefined,
    );
  };
  setInterval(refresh, 15_000).unref();
  return {
    total: (name, where) => {
      if (!remote.has(name)) {
        remote.set(name, 0);
        refresh();
      }
      return local.total(name, where) + remote.get(name)!;
    },
  };
}

async function liveCall(sbc: LiveSbc, c: LiveCall): Promise<unknown> {
  switch (c.op) {
    case 'blocks':
      return sbc.blocks();
    case 'unblock':
      return sbc.unblock(c.source);
    case 'sourceFailures':
      return sbc.sourceFailures(c.max);
    case 'dropSession':
      return sbc.dropSession(c.idc, c.before);
  }
}

/** The SBC of `up`, in its own process, as the AuC's operator API sees it. */
function remoteSbc(id: { instance: string; idsp: string }, q: Questions): LiveSbc {
  const call = <T>(c: LiveCall) => q.ask<T>({ op: 'live', call: c }, LIVE_TIMEOUT_MS);
  return {
    instance: id.instance,
    idsp: id.idsp,
    blocks: () => call({ op: 'blocks' }),
    unblock: (source) => call({ op: 'unblock', source }),
    sourceFailures: (max) => call({ op: 'sourceFailures', max }),
    dropSession: (idc, before) => call({ op: 'dropSession', idc, before }),
  };
}
