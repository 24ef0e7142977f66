/**
 * One intrusion detection per process: the SBC's relays and the HTTP side of
 * `keyswitch up` share its partners, blacklist and rules. Started from plain
 * options (the roles map settings `ids.*` onto them); the rule file is
 * watched for changes and re-read on SIGHUP.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { MetricsRegistry } from '../metrics/registry.js';
import { detectionSink, idsGauges, IDS_METRICS } from './alerts.js';
import { IdsEngine } from './engine.js';
import { loadRuleFile, watchRuleFile, type RuleWatcher } from './load.js';
import { IdsSharing, type IdsSharedBackend } from './shared.js';

export interface IdsServiceOptions {
  /** The rule file; empty: the shipped config/ids-rules.xml. */
  rulesFile?: string;
  webhook?: string;
  logger?: Logger;
  metrics?: MetricsRegistry;
  maxPartners?: number;
  idleSeconds?: number;
  goodRecordSeconds?: number;
  escalateFlows?: number;
  now?: () => number;
  /** Reload on SIGHUP (default true). */
  signal?: boolean;
  /**
   * A directory where this process writes what operators read of its IDS
   * (`<pid>.json`: blocks, partners, rule counts) every 10 s, for the CLI
   * and for the API of another process of `keyswitch up`.
   */
  stateDir?: string;
  /**
   * Counts and blocks shared with the other instances (Redis: src/store/redis/ids-shared.ts),
   * made when the service starts; undefined or absent: this process decides alone.
   */
  shared?: () => IdsSharedBackend | undefined;
  /** How often shared counts are exchanged (ms, default 250). */
  syncMs?: number;
}

export interface IdsService {
  engine: IdsEngine;
  rulesFile: string;
  /** The exchange with other instances, when there is one. */
  sharing: IdsSharing | undefined;
  /** Re-reads the rule file now (atomic; the old rules stay when it is refused). */
  reload(): ReturnType<RuleWatcher['reload']>;
  close(): void;
}

/** config/ids-rules.xml beside src/ (tsx) or dist/src/ (compiled). */
export function shippedRules(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..', 'config', 'ids-rules.xml'), join(here, '..', '..', '..', 'config', 'ids-rules.xml')];
  return candidates.find((f) => existsSync(f)) ?? candidates[0]!;
}

/** Starts it; a rule file that does not load stops the start with its error. */
export function startIds(o: IdsServiceOptions): IdsService {
  const rulesFile = o.rulesFile || shippedRules();
  const rules = loadRuleFile(rulesFile);
  const log = o.logger?.child({ component: 'ids' });
  let engine: IdsEngine | undefined;
  const n = o.maxPartners ?? 100_000;
  const backend = o.shared?.();
  let lastError = 0;
  const sharing = backend
    ? new IdsSharing(backend, {
        syncMs: o.syncMs ?? 250,
        ...(o.now ? { now: o.now } : {}),
        maxPending: n,
        onError: (what, err) => {
          // One line a minute: an outage of the shared store is reported by its client already.
          if (Date.now() - lastError < 60_000) return;
          lastError = Date.now();
          log?.warn({ err: (err as Error)?.message }, `ids: ${what}; this instance keeps detecting on its own`);
        },
      })
    : undefined;
  engine = new IdsEngine({
    ...(sharing ? { sharing } : {}),
    rules,
    ...(o.now ? { now: o.now } : {}),
    maxFlows: n,
    maxAddresses: Math.max(1, n >> 1),
    maxIdentities: Math.max(1, n >> 1),
    idleMs: (o.idleSeconds ?? 600) * 1000,
    goodRecordMs: (o.goodRecordSeconds ?? 86_400) * 1000,
    escalateFlows: o.escalateFlows ?? 3,
    onDetection: detectionSink({ logger: log, metrics: o.metrics, webhook: o.webhook || undefined }),
  });
  const e = engine;
  if (o.metrics) idsGauges(o.metrics, () => e);
  const reloads = o.metrics?.counter(IDS_METRICS.reloads, 'Rule file loads after start, by result', { labelNames: ['result'] });
  const watcher = watchRuleFile(
    rulesFile,
    (set) => e.reload(set),
    {
      onApplied: (set) => {
        reloads?.inc({ result: 'applied' });
        log?.info({ event: 'ids-rules', file: rulesFile, rules: set.rules.length }, 'ids: rules reloaded');
      },
      onRefused: (error) => {
        reloads?.inc({ result: 'refused' });
        log?.warn({ event: 'ids-rules-refused', file: rulesFile, error }, 'ids: rule file refused; the rules in force stay');
      },
    },
    { signal: o.signal ?? true },
  );
  const stateFile = o.stateDir ? join(o.stateDir, `${process.pid}.json`) : undefined;
  const sweeper = setInterval(() => {
    e.sweep();
    if (stateFile) writeState(stateFile, e, rulesFile, log);
  }, 10_000);
  sweeper.unref();
  if (stateFile) writeState(stateFile, e, rulesFile, log);
  log?.info({ file: rulesFile, rules: rules.rules.length, ...(sharing ? { sharedSyncMs: sharing.syncMs } : {}) }, sharing ? 'ids: rules loaded; counts and blocks shared with the other instances' : 'ids: rules loaded');
  return {
    engine: e,
    rulesFile,
    sharing,
    reload: () => watcher.reload(),
    close() {
      void sharing?.close().catch(() => undefined);
      clearInterval(sweeper);
      watcher.close();
      if (stateFile) rmSync(stateFile, { force: true });
    },
  };
}

/** The settings `ids.*` as the roles hold them (structural: src/ids does not import the config). */
export interface IdsSettings {
  enabled: string;
  rules: string;
  webhook: string;
  maxPartners: number;
  partnerIdleSeconds: number;
  goodRecordSeconds: number;
  escalateFlows: number;
}

export function idsOptions(s: IdsSettings): IdsServiceOptions {
  return {
    ...(s.rules ? { rulesFile: s.rules } : {}),
    ...(s.webhook ? { webhook: s.webhook } : {}),
    maxPartners: s.maxPartners,
    idleSeconds: s.partnerIdleSeconds,
    goodRecordSeconds: s.goodRecordSeconds,
    escalateFlows: s.escalateFlows,
  };
}

let shared: { service: IdsService; users: number } | undefined;

/**
 * The process's intrusion detection: the first role to ask starts it, the
 * others (the SBC and the API under `keyswitch up`) share it; it stops when
 * the last one releases it. Undefined when `ids.enabled` is off.
 */
export function acquireIds(s: IdsSettings, extra: Pick<IdsServiceOptions, 'logger' | 'metrics' | 'stateDir' | 'shared'>): { service: IdsService; release(): void } | undefined {
  if (s.enabled !== 'on') return undefined;
  if (!shared) shared = { service: startIds({ ...idsOptions(s), ...extra }), users: 0 };
  const held = shared;
  held.users++;
  let released = false;
  return {
    service: held.service,
    release() {
      if (released) return;
      released = true;
      if (--held.users === 0) {
        held.service.close();
        if (shared === held) shared = undefined;
      }
    },
  };
}

/** What operators read of one process's IDS (written by it every 10 s). */
export interface IdsState {
  pid: number;
  writtenAt: number;
  rulesFile: string;
  blocks: ReturnType<IdsEngine['blocks']>;
  partners: ReturnType<IdsEngine['partners']>;
  rules: ReturnType<IdsEngine['ruleCounts']>;
  sizes: ReturnType<IdsEngine['sizes']>;
}

function writeState(file: string, e: IdsEngine, rulesFile: string, log: Pick<Logger, 'warn'> | undefined): void {
  const state: IdsState = { pid: process.pid, writtenAt: Date.now(), rulesFile, blocks: e.blocks().slice(0, 1000), partners: e.partners(200), rules: e.ruleCounts(), sizes: e.sizes() };
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  } catch (err) {
    log?.warn({ err: (err as Error).message, file }, 'ids: state for operators not written');
  }
}

/** The states written by the processes of this data directory that are alive (written within the last minute). */
export function readIdsStates(dir: string, now = Date.now()): IdsState[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const out: IdsState[] = [];
  for (const n of names) {
    try {
      const s = JSON.parse(readFileSync(join(dir, n), 'utf8')) as IdsState;
      if (now - s.writtenAt < 60_000) out.push(s);
    } catch {
      // a file being replaced, or not ours
    }
  }
  return out;
}
