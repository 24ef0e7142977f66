import type { Knex } from 'knex';
import { num, type Page } from './rows.js';

/** A source an SBC refuses to read, as operators see it. */
export interface SourceBlock {
  source: string;
  /** The SBC identity (IDsp) that blocked it. */
  idsp: string;
  /** Why: 'signature-failures' (header signatures that failed, docs/header-signing.md). */
  reason: string;
  failures: number;
  windowMs: number;
  blockedAt: number; // Unix ms
  expiresAt: number; // Unix ms
}

export type FailureKindCounts = Record<string, number>;

/** Failures counted against one source address at one SBC. */
export interface SourceFailureRecord {
  source: string;
  idsp: string;
  total: number;
  byKind: FailureKindCounts;
  first: number; // Unix ms
  last: number; // Unix ms
}

export type OperatorActionKind = 'unblock' | 'drop-session';

export interface OperatorAction {
  id: number;
  at: number;
  action: OperatorActionKind;
  target: string;
  /** The SBC process that applied it in-process already ('' none). */
  origin: string;
}

/** How long operator actions are kept for SBCs that poll late. */
const ACTION_KEEP_MS = 3600_000;
/** Snapshots of SBC processes not refreshed for this long are gone (the process stopped without clearing). */
export const SNAPSHOT_STALE_MS = 3600_000;

/**
 * The SBCs' state that operators see and steer through the shared store
 * (docs/operations.md): blocks written by an SBC when it blocks, failure
 * snapshots written on a timer, operator actions every SBC polls. Nothing
 * here is written per message.
 */
export class SbcStateRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async recordBlock(instance: string, b: SourceBlock): Promise<void> {
    await this.knex('sbc_blocks').insert({
      idsp: b.idsp,
      instance,
      source: b.source,
      reason: b.reason,
      failures: b.failures,
      window_ms: b.windowMs,
      blocked_at: b.blockedAt,
      expires_at: b.expiresAt,
    });
  }

  /** Blocks in force (not lifted, not expired), newest first; one row per (SBC, source). */
  async blocks(offset: number, limit: number, filter: { source?: string; idsp?: string; except?: string } = {}): Promise<Page<SourceBlock>> {
    const q = this.knex('sbc_blocks').whereNull('lifted_at').andWhere('expires_at', '>', this.now());
    if (filter.source !== undefined) q.andWhere({ source: filter.source });
    if (filter.idsp !== undefined) q.andWhere({ idsp: filter.idsp });
    if (filter.except !== undefined) q.andWhere('instance', '<>', filter.except);
    // Pool instances share an IDsp: the latest block of each (IDsp, source) speaks for it.
    const latest = q.clone().select('idsp', 'source').max({ id: 'id' }).groupBy('idsp', 'source');
    const [{ n }] = await this.knex.from(latest.as('b')).count({ n: '*' });
    const rows = await this.knex('sbc_blocks')
      .whereIn('id', this.knex.from(latest.as('l')).select('id'))
      .orderBy([{ column: 'blocked_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .offset(offset)
      .limit(limit);
    return { items: rows.map(toBlock), total: num(n), offset, limit };
  }

  /** Marks every SBC's blocks of a source lifted; returns the IDsps whose blocks were in force. */
  async liftBlocks(source: string): Promise<string[]> {
    const q = this.knex('sbc_blocks').where({ source }).whereNull('lifted_at').andWhere('expires_at', '>', this.now());
    const idsps = (await q.clone().distinct('idsp')).map((r) => String(r.idsp));
    if (idsps.length) await q.clone().update({ lifted_at: this.now() });
    return idsps;
  }

  /** An SBC process that stops holds no block any more. */
  async liftAllOf(instance: string): Promise<void> {
    await this.knex('sbc_blocks').where({ instance }).whereNull('lifted_at').update({ lifted_at: this.now() });
  }

  async purgeBlocks(): Promise<number> {
    return this.knex('sbc_blocks').where('expires_at', '<=', this.now()).delete();
  }

  /** Replaces one SBC process's failure snapshot (bounded by the caller). */
  async putSnapshot(instance: string, idsp: string, items: SourceFailureRecord[]): Promise<void> {
    const t = this.now();
    await this.knex.transaction(async (trx) => {
      await trx('sbc_source_failures').where({ instance }).delete();
      // Other processes' snapshots not refreshed for long: their SBC stopped without clearing them.
      await trx('sbc_source_failures').where('updated_at', '<', t - SNAPSHOT_STALE_MS).delete();
      for (let i = 0; i < items.length; i += 100) {
        await trx('sbc_source_failures').insert(
          items.slice(i, i + 100).map((f) => ({
            instance,
            idsp,
            source: f.source,
            total: f.total,
            by_kind: JSON.stringify(f.byKind),
            first_at: f.first,
            last_at: f.last,
            updated_at: t,
          })),
        );
      }
    });
  }

  async clearSnapshot(instance: string): Promise<void> {
    await this.knex('sbc_source_failures').where({ instance }).delete();
  }

  /** Failures per source from every SBC process's snapshot, most first; `except` leaves one process out. */
  async sourceFailures(offset: number, limit: number, filter: { source?: string; except?: string } = {}): Promise<Page<SourceFailureRecord>> {
    const q = this.knex('sbc_source_failures');
    if (filter.source !== undefined) q.where({ source: filter.source });
    if (filter.except !== undefined) q.andWhere('instance', '<>', filter.except);
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q.clone().orderBy([{ column: 'total', order: 'desc' }, { column: 'source', order: 'asc' }]).offset(offset).limit(limit);
    return {
      items: rows.map((r) => ({
        source: String(r.source),
        idsp: String(r.idsp),
        total: num(r.total),
        byKind: JSON.parse(String(r.by_kind)) as FailureKindCounts,
        first: num(r.first_at),
        last: num(r.last_at),
      })),
      total: num(n),
      offset,
      limit,
    };
  }

  async addAction(action: OperatorActionKind, target: string, origin = ''): Promise<void> {
    await this.knex('operator_actions').insert({ at: this.now(), action, target, origin });
  }

  /** The newest action id (an SBC starts reading after it: earlier actions are not its business). */
  async lastActionId(): Promise<number> {
    const r = await this.knex('operator_actions').max({ id: 'id' }).first();
    return num((r as { id?: unknown } | undefined)?.id);
  }

  async actionsAfter(id: number, limit = 1000): Promise<OperatorAction[]> {
    const rows = await this.knex('operator_actions').where('id', '>', id).orderBy('id').limit(limit);
    return rows.map((r) => ({ id: num(r.id), at: num(r.at), action: String(r.action) as OperatorActionKind, target: String(r.target), origin: String(r.origin) }));
  }

  async purgeActions(): Promise<number> {
    return this.knex('operator_actions').where('at', '<', this.now() - ACTION_KEEP_MS).delete();
  }
}

function toBlock(r: Record<string, unknown>): SourceBlock {
  return {
    source: String(r.source),
    idsp: String(r.idsp),
    reason: String(r.reason),
    failures: num(r.failures),
    windowMs: num(r.window_ms),
    blockedAt: num(r.blocked_at),
    expiresAt: num(r.expires_at),
  };
}
