/**
 * `keyswitch up`: one command, one data directory, one configuration, and
 * one process per role (AuC, softswitch, SBC) so that a machine with several
 * cores uses them (docs/deploy.md, "One command, one process per role").
 *
 * This process forks the same entry once per role (up-child.ts) and
 * supervises them:
 * - start: the AuC first (it migrates the store and provisions the node's
 *   own SBC and softswitch), then the softswitch and the SBC together; the
 *   listeners of all are printed once every role is up. A role that cannot
 *   start stops the others and the command exits non-zero with the role's
 *   one line (naming its listener and address), as one process did.
 * - run: a role that exits is restarted after a backoff (up.restartFirstMs,
 *   0.5 s, doubling to up.restartMaxMs, 30 s, back to the first after
 *   up.restartStableMs, a minute, up); /healthz says it is down meanwhile.
 * - stop: SIGTERM or SIGINT stops every role (each closes its listeners and
 *   store), then this process exits 0, or 1 if a role had to be killed.
 * - metrics.address serves every role's registry merged (src/metrics/merge.ts)
 *   and /healthz for all of them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { listenAddress, startListener, type HealthProblem, type HealthReport } from '../metrics/health.js';
import { mergeExpositions } from '../metrics/merge.js';
import { startMetricsServer } from '../metrics/server.js';
import { isUserError, type GlobalFlags } from './context.js';
import { startDaemon } from './daemon.js';
import { answer, Questions, UP_ROLE_ENV, type FromChild, type Listening, type Question, type ToChild, type UpRole } from './up-ipc.js';

/** A role that has not exited this long after SIGTERM is killed. */
const STOP_GRACE_MS = 10_000;
const QUESTION_TIMEOUT_MS = 2000;

/**
 * Set to a directory, each role process runs under `node --cpu-prof` and writes
 * its profile into `<dir>/keyswitch-<role>-<supervisor pid>-<n>/` when it exits
 * (the main thread's file is `CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`) (bench:compare
 * --cpu-prof): NODE_OPTIONS refuses --cpu-prof, and the supervisor's own
 * --cpu-prof flags would have every child write the same file.
 */
export const CHILD_CPU_PROF_ENV = 'KEYSWITCH_CHILD_CPU_PROF_DIR';

let childProfiles = 0;
function childExecArgv(role: UpRole, semiSpaceMb: number): string[] {
  const own = [...process.execArgv, ...semiSpace(process.execArgv, semiSpaceMb)];
  const dir = process.env[CHILD_CPU_PROF_ENV];
  if (!dir) return own;
  const kept: string[] = [];
  for (let i = 0; i < own.length; i++) {
    const a = own[i]!;
    if (!a.startsWith('--cpu-prof')) kept.push(a);
    else if (!a.includes('=') && a !== '--cpu-prof') i++; // its value follows
  }
  // a directory per process, Node's own file names: a fixed --cpu-prof-name would have the
  // module loader's worker thread (tsx) overwrite the main thread's profile (thread id 0 in the name)
  return [...kept, '--cpu-prof', '--cpu-prof-dir', `${dir}/keyswitch-${role}-${process.pid}-${++childProfiles}`];
}

/**
 * V8's semi-space for a role process (up.semiSpaceMb), fixed from the start: grown only once
 * the load is there, the young generation is still small through the step up to it, when
 * requests wait longest and the most of them are copied into the old generation
 * (docs/performance.md, "Young generation (session 12)"). A size given to `node` itself wins.
 */
export function semiSpace(execArgv: readonly string[], mb: number): string[] {
  if (mb <= 0 || execArgv.some((a) => /^--(max|min)[-_]semi[-_]space[-_]size/.test(a))) return [];
  return [`--min-semi-space-size=${mb}`, `--max-semi-space-size=${mb}`];
}

type Outcome = { ok: true; listening: Listening[] } | { ok: false; message: string; user: boolean };

class RoleProcess {
  proc: ChildProcess | undefined;
  questions: Questions | undefined;
  state: 'starting' | 'up' | 'down' | 'stopped' = 'down';
  /** When this process of the role said ready; 0 while it has not (a start that fails has not recovered). */
  upSince = 0;
  backoffMs = 0;
  sbc: { instance: string; idsp: string } | undefined;
  #outcome: ((o: Outcome) => void) | undefined;
  #loaded = false;
  #held: ToChild[] = [];

  constructor(
    readonly role: UpRole,
    private readonly semiSpaceMb: number,
  ) {}

  /** Forks the role's process; `started` resolves once it says ready or failed (or exits). */
  fork(onMessage: (rp: RoleProcess, m: FromChild) => void, onExit: (rp: RoleProcess, code: number | null, signal: string | null) => void): Promise<Outcome> {
    const proc = fork(process.argv[1]!, process.argv.slice(2), {
      env: { ...process.env, [UP_ROLE_ENV]: this.role },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: childExecArgv(this.role, this.semiSpaceMb),
    });
    this.proc = proc;
    this.upSince = 0;
    this.#loaded = false;
    this.#held = [];
    this.state = 'starting';
    this.questions = new Questions((m) => proc.connected && proc.send(m));
    const outcome = new Promise<Outcome>((resolve) => (this.#outcome = resolve));
    proc.on('message', (m: FromChild) => {
      if (m.t === 'loaded') {
        this.#loaded = true;
        for (const h of this.#held.splice(0)) this.send(h);
      } else if (m.t === 'ready') {
        this.state = 'up';
        this.upSince = Date.now();
        this.sbc = m.sbc;
        this.#settle({ ok: true, listening: m.listening });
      } else if (m.t === 'failed') {
        this.#settle({ ok: false, message: m.message, user: m.user });
      }
      onMessage(this, m);
    });
    proc.on('error', () => undefined);
    proc.once('exit', (code, signal) => {
      this.questions?.failAll(`the ${this.role} process exited`);
      this.proc = undefined;
      this.sbc = undefined;
      const was = this.state;
      if (this.state !== 'stopped') this.state = 'down';
      this.#settle({ ok: false, message: `the ${this.role} role exited while starting (${signal ?? `code ${code}`})`, user: false });
      if (was !== 'stopped') onExit(this, code, signal);
    });
    return outcome;
  }

  #settle(o: Outcome): void {
    const f = this.#outcome;
    this.#outcome = undefined;
    f?.(o);
  }

  send(m: ToChild): void {
    // a message sent before the child listens would be lost: held until it says it is loaded
    if (!this.#loaded) {
      this.#held.push(m);
      return;
    }
    try {
      if (this.proc?.connected) this.proc.send(m);
    } catch {
      /* exited meanwhile */
    }
  }

  ask<T>(q: Question): Promise<T> {
    if (!this.questions || !this.proc?.connected) return Promise.reject(new Error(`the ${this.role} role is not running`));
    return this.questions.ask<T>(q, QUESTION_TIMEOUT_MS);
  }

  /** SIGTERM, then SIGKILL after the grace; true when it exited by itself. */
  async stop(): Promise<boolean> {
    this.state = 'stopped';
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return true;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const clean = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_GRACE_MS)))]);
    clearTimeout(timer);
    if (!clean) {
      proc.kill('SIGKILL');
      await exited;
    }
    return clean && proc.exitCode === 0;
  }
}

export async function superviseUp(names: readonly UpRole[], flags: GlobalFlags, extra: Record<string, unknown>): Promise<void> {
  const { cfg, logger, metrics, health } = startDaemon(flags, extra);
  const restarts = metrics.counter('keyswitch_up_role_restarts_total', 'Role processes of keyswitch up restarted after they exited, by role.', { labelNames: ['role'] });
  const roles = new Map(names.map((r) => [r, new RoleProcess(r, cfg.up.semiSpaceMb)]));
  const { restartFirstMs, restartMaxMs, restartStableMs } = cfg.up;
  if (!roles.has('auc')) throw new Error('keyswitch up runs the AuC');
  const auc = roles.get('auc')!;
  const sbc = roles.get('sbc');
  let stopping = false;
  let up = false;

  /** This process's parts (the metrics listener), every role's, and each role that is not up. */
  const report = async (except?: UpRole): Promise<HealthReport> => {
    const own = await health.report({ local: true });
    const down: HealthProblem[] = [...own.down];
    let listeners = own.listeners;
    await Promise.all(
      [...roles.values()].filter((rp) => rp.role !== except).map(async (rp) => {
        if (rp.state !== 'up') {
          down.push({ part: `${rp.role} role`, reason: rp.state === 'starting' ? 'starting' : 'not running' });
          return;
        }
        try {
          const r = await rp.ask<HealthReport>({ op: 'health' });
          listeners += r.listeners;
          for (const d of r.down) if (!down.some((x) => x.part === d.part && x.address === d.address)) down.push(d);
        } catch {
          down.push({ part: `${rp.role} role`, reason: 'no answer' });
        }
      }),
    );
    return { ok: down.length === 0, listeners, down };
  };

  /** What a role asks of the others: the AuC's API answers /healthz for all and reaches the SBC. */
  const onQuestion = (from: RoleProcess, id: number, q: Question): void => {
    void answer(id, async () => {
      if (q.op === 'health') return report(from.role);
      if (q.op === 'totals') {
        // summed over the other roles that run now (the dashboard's counters; a role restarting counts 0 meanwhile)
        const sum: Record<string, number> = Object.fromEntries(q.names.map((n) => [n, 0]));
        const parts = await Promise.all([...roles.values()].filter((rp) => rp !== from && rp.state === 'up').map((rp) => rp.ask<Record<string, number>>({ op: 'totals', names: q.names }).catch(() => ({}))));
        for (const p of parts) for (const [k, v] of Object.entries(p)) if (k in sum) sum[k]! += v;
        return sum;
      }
      if (q.op === 'live') {
        if (!sbc) throw new Error('no SBC');
        return sbc.ask({ op: 'live', call: q.call });
      }
      throw new Error(`${q.op} is not asked of the supervisor`);
    }, (a) => from.send(a));
  };

  const tellAucOfSbc = () => auc.send({ t: 'sbc', live: sbc?.state === 'up' && sbc.sbc ? sbc.sbc : null });

  const onMessage = (rp: RoleProcess, m: FromChild): void => {
    if (m.t === 'req') onQuestion(rp, m.id, m);
    else if (m.t === 'res') rp.questions?.settle(m);
    else if (m.t === 'ready') {
      if (rp.role === 'sbc' || rp.role === 'auc') tellAucOfSbc();
    }
  };

  const onExit = (rp: RoleProcess, code: number | null, signal: string | null): void => {
    if (rp.role === 'sbc') tellAucOfSbc();
    if (stopping || !up) return;
    const stable = rp.upSince && Date.now() - rp.upSince >= restartStableMs;
    if (stable || !rp.backoffMs) rp.backoffMs = restartFirstMs;
    const delay = Math.min(restartMaxMs, rp.backoffMs);
    rp.backoffMs = Math.min(restartMaxMs, rp.backoffMs * 2);
    logger.error({ role: rp.role, code, signal, restartInMs: delay }, 'role exited; restarting');
    const timer = setTimeout(() => {
      if (stopping) return;
      restarts.inc({ role: rp.role });
      const started = rp.fork(onMessage, onExit);
      rp.send({ t: 'start' });
      void started.then((o) => {
        if (o.ok) logger.warn({ role: rp.role }, 'role restarted');
        else logger.error({ role: rp.role, reason: o.message }, 'role failed to restart');
      });
    }, delay);
    timer.unref();
  };

  let stopRequested: (() => void) | undefined;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  const onSignal = () => {
    stopping = true;
    stopRequested?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  const stopAll = async (): Promise<boolean> => {
    stopping = true;
    const results = await Promise.all([...roles.values()].map((rp) => rp.stop()));
    await metricsServer?.close();
    return results.every(Boolean);
  };

  const failedStart = async (o: { message: string; user: boolean }): Promise<never> => {
    await stopAll();
    process.stderr.write(`keyswitch: ${o.message}\n`);
    process.exit(o.user ? 2 : 1);
  };

  // Forked together, so that the other roles load while the AuC starts (it migrates the store and provisions the node's own proxies).
  const started = new Map([...roles.values()].map((rp) => [rp.role, rp.fork(onMessage, onExit)]));
  const orStop = <T>(p: Promise<T>): Promise<T | undefined> => Promise.race([p, stopSignal.then(() => undefined)]);
  auc.send({ t: 'start' });
  const aucOutcome = await orStop(started.get('auc')!);
  if (stopping || !aucOutcome) process.exit((await stopAll()) ? 0 : 1);
  if (!aucOutcome.ok) return failedStart(aucOutcome);
  const others = [...roles.values()].filter((rp) => rp !== auc);
  for (const rp of others) rp.send({ t: 'start' });
  const rest = await orStop(Promise.all(others.map((rp) => started.get(rp.role)!)));
  if (stopping || !rest) process.exit((await stopAll()) ? 0 : 1);
  const failed = rest.find((o): o is Extract<Outcome, { ok: false }> => !o.ok);
  if (failed) return failedStart(failed);

  const listening: Listening[] = [aucOutcome, ...rest].flatMap((o) => (o.ok ? o.listening : []));
  if (cfg.metrics.address) {
    const at = cfg.metrics.address;
    try {
      metricsServer = await startListener('metrics', listenAddress(at.host, at.port, 'http'), () =>
        startMetricsServer(
          {
            render: async () => {
              const parts = await Promise.all(
                [...roles.values()].map(async (rp) => ({ role: rp.role, text: rp.state === 'up' ? await rp.ask<string>({ op: 'metrics' }).catch(() => '') : '' })),
              );
              return mergeExpositions([...parts, { role: 'up', text: await metrics.render() }]);
            },
          },
          { host: at.host, port: at.port, health: { report: () => report() } },
        ),
      );
    } catch (err) {
      return failedStart({ message: String((err as Error)?.message ?? err), user: isUserError(err) });
    }
    const base = `http://${listenAddress(at.host, metricsServer.port)}`;
    const server = metricsServer.server;
    health.listener('metrics', listenAddress(at.host, metricsServer.port, 'http'), () => server.listening);
    listening.push({ name: 'metrics (and /healthz)', address: `${base}/metrics` });
  }
  if (stopping) process.exit((await stopAll()) ? 0 : 1);
  up = true;
  console.log(`keyswitch is up (data ${cfg.dataDir}${cfg.db.url ? ', PostgreSQL' : ', embedded SQLite'}):`);
  for (const l of listening) console.log(`  ${l.name.padEnd(28)} ${l.address}`);
  await stopSignal;
  logger.info('stopping');
  const clean = await stopAll();
  process.exit(clean ? 0 : 1);
}
