/**
 * What operators see of this SBC and how they steer it (docs/operations.md).
 *
 * In the process: the AuC's API (under `keyswitch up`) calls it directly.
 * Through the shared store, for SBCs run apart and for the CLI: each block is
 * written when it is made (rate-capped: a spray of spoofed sources must not
 * turn into a write flood on the store every role shares), the failures per
 * source as a bounded snapshot on a timer when they changed, and operator
 * actions (unblock, drop a session) are read on a timer. Nothing per message.
 */
import { randomBytes } from 'node:crypto';
import type { LiveSbc } from '../control/live-roles.js';
import type { Logger } from '../log/logger.js';
import { canonicalIdentity } from '../sip/uri-compare.js';
import type { OperatorAction, SbcStateRepo, SourceBlock, SourceFailureRecord } from '../store/sbc-state.js';
import type { SessionTable } from './sessions.js';
import type { FailureCounter } from './sip-failures.js';
import type { GuardAlert, SignatureGuard } from './signing/guard.js';
import type { BlockEntry } from '../ids/types.js';

export interface SbcControlOptions {
  idsp: string;
  sessions: SessionTable;
  failures: FailureCounter;
  guard: SignatureGuard | undefined;
  /** The shared store; without it only in-process control works. */
  state?: SbcStateRepo;
  logger?: Pick<Logger, 'warn' | 'info'>;
  now?: () => number;
  /** How often operator actions are read (default 2000 ms). */
  pollMs?: number;
  /** The failure snapshot is written every this many polls, when it changed (default 5). */
  snapshotEvery?: number;
  /** Sources in the snapshot (default 200). */
  snapshotMax?: number;
  /** Blocks written to the store per second at most (default 20); more are counted and logged. */
  recordPerSecond?: number;
  /** The intrusion detection's blacklist: listed and lifted with the guard's blocks (docs/ids.md). */
  ids?: { blocks(): BlockEntry[]; unblock(target: string): boolean };
}

export const BLOCK_REASON = 'signature-failures';
const MAX_MADE = 20_000;

export class SbcControl implements LiveSbc {
  readonly instance = randomBytes(8).toString('hex');
  readonly idsp: string;
  readonly #o: SbcControlOptions;
  readonly #now: () => number;
  /** Facts of each block the guard made (its own table keeps only the end). */
  readonly #made = new Map<string, { failures: number; windowMs: number; blockedAt: number }>();
  #cursor = 0;
  #timer: NodeJS.Timeout | undefined;
  #polls = 0;
  #written = -1;
  #busy = false;
  #second = 0;
  #inSecond = 0;
  /** Blocks not written to the store because of the cap. */
  unrecorded = 0;

  constructor(o: SbcControlOptions) {
    this.#o = o;
    this.idsp = o.idsp;
    this.#now = o.now ?? Date.now;
  }

  blocks(): SourceBlock[] {
    const g = this.#o.guard;
    const ids = (this.#o.ids?.blocks() ?? []).map((b) => idsBlock(this.idsp, b));
    if (!g) return ids.sort((a, b) => b.blockedAt - a.blockedAt);
    return [...ids, ...g
      .blocks()
      .map(({ source, until }) => {
        const w = this.#made.get(source);
        return {
          source,
          idsp: this.idsp,
          reason: BLOCK_REASON,
          failures: w?.failures ?? g.threshold,
          windowMs: w?.windowMs ?? g.windowMs,
          blockedAt: w?.blockedAt ?? until - g.blockMs,
          expiresAt: until,
        };
      })].sort((a, b) => b.blockedAt - a.blockedAt);
  }

  unblock(source: string): boolean {
    const byIds = this.#o.ids?.unblock(source) ?? false;
    const had = (this.#o.guard?.unblock(source) ?? false) || byIds;
    this.#made.delete(source);
    this.#o.failures.forget(source);
    if (had) this.#o.logger?.info({ source }, 'sbc: block lifted by an operator');
    return had;
  }

  sourceFailures(max: number): SourceFailureRecord[] {
    return this.#o.failures.top(max).map((f) => ({ source: f.source, idsp: this.idsp, total: f.total, byKind: { ...f.byKind } as Record<string, number>, first: f.first, last: f.last }));
  }

  dropSession(idc: string, before: number): boolean {
    let dropped = false;
    for (const id of new Set([idc, canonicalIdentity(idc)])) {
      const rec = this.#o.sessions.get(id);
      if (rec && rec.session.registeredAt <= before) dropped = this.#o.sessions.remove(id) || dropped;
    }
    // Shared (Redis): gone for every instance, also when this one holds no copy (sessions.ts).
    if (!dropped) for (const id of new Set([idc, canonicalIdentity(idc)])) this.#o.sessions.dropShared(id, before)?.catch(() => undefined);
    if (dropped) this.#o.logger?.info({ idc }, 'sbc: session dropped by an operator');
    return dropped;
  }

  /** A block the intrusion detection made: written to the store like the guard's (capped). */
  onIdsBlock(b: BlockEntry): void {
    this.#record(idsBlock(this.idsp, b));
  }

  /** The guard's alert: remember the block's facts and write it to the store (capped). */
  onBlock(a: GuardAlert): void {
    const blockedAt = this.#now();
    // Bounded: entries of lifted or expired blocks go at each snapshot, and all but the guard's live ones when it grows.
    if (this.#made.size >= MAX_MADE) this.#prune();
    this.#made.delete(a.source);
    this.#made.set(a.source, { failures: a.failures, windowMs: a.windowMs, blockedAt });
    this.#record({ source: a.source, idsp: this.idsp, reason: BLOCK_REASON, failures: a.failures, windowMs: a.windowMs, blockedAt, expiresAt: a.blockedUntil });
  }

  #record(b: SourceBlock): void {
    const state = this.#o.state;
    if (!state) return;
    const second = Math.floor(b.blockedAt / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#inSecond = 0;
    }
    if (++this.#inSecond > (this.#o.recordPerSecond ?? 20)) {
      this.unrecorded++;
      if (this.unrecorded === 1 || this.unrecorded % 1000 === 0) this.#o.logger?.warn({ unrecorded: this.unrecorded }, 'sbc: blocks made faster than they are recorded in the store; the rest are in this SBC only');
      return;
    }
    state.recordBlock(this.instance, b).catch((err: Error) => this.#o.logger?.warn({ err: err.message }, 'sbc: block not recorded in the store'));
  }

  async start(): Promise<void> {
    const state = this.#o.state;
    if (!state) return;
    this.#cursor = await state.lastActionId();
    this.#timer = setInterval(() => void this.#tick(), this.#o.pollMs ?? 2000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const state = this.#o.state;
    if (!state) return;
    await state.liftAllOf(this.instance).catch(() => undefined);
    await state.clearSnapshot(this.instance).catch(() => undefined);
  }

  /** One poll: operator actions, then (every few polls) the snapshot and housekeeping. */
  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.poll();
      if (++this.#polls % (this.#o.snapshotEvery ?? 5) === 0) await this.#snapshot();
    } catch (err) {
      this.#o.logger?.warn({ err: (err as Error).message }, 'sbc: operator state not read from the store');
    } finally {
      this.#busy = false;
    }
  }

  /** Applies the operator actions written since the last poll (exposed for tests). */
  async poll(): Promise<OperatorAction[]> {
    const state = this.#o.state;
    if (!state) return [];
    const actions = await state.actionsAfter(this.#cursor);
    for (const a of actions) {
      this.#cursor = a.id;
      if (a.origin === this.instance) continue;
      if (a.action === 'unblock') this.unblock(a.target);
      else if (a.action === 'drop-session') this.dropSession(a.target, a.at);
    }
    return actions;
  }

  async #snapshot(): Promise<void> {
    const state = this.#o.state!;
    this.#prune();
    const v = this.#o.failures.version;
    // Rewritten when it changed, and now and then anyway so that it does not look stale to readers.
    if (v !== this.#written || this.#polls % 150 === 0) {
      await state.putSnapshot(this.instance, this.idsp, this.sourceFailures(this.#o.snapshotMax ?? 200));
      this.#written = v;
    }
    if (this.#polls % 150 === 0) {
      await state.purgeActions();
      await state.purgeBlocks();
    }
  }

  #prune(): void {
    const live = new Set(this.#o.guard?.blockedSources() ?? []);
    for (const s of this.#made.keys()) if (!live.has(s)) this.#made.delete(s);
    while (this.#made.size >= MAX_MADE) this.#made.delete(this.#made.keys().next().value!);
  }
}

/** An IDS block as operators see blocks: the source is the address, flow or `id:<identity>`, the reason names the rule. */
function idsBlock(idsp: string, b: BlockEntry): SourceBlock {
  return { source: b.target, idsp, reason: `ids ${b.scope}: ${b.rule}: ${b.reason}`, failures: b.hits, windowMs: 0, blockedAt: b.since, expiresAt: b.until };
}
