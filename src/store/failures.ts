import type { Knex } from 'knex';
import type { HotStore } from './hot/types.js';
import { escapeLike, num, type Page } from './rows.js';
import type { FailureState } from './records.js';

export type { FailureState } from './records.js';

/** Raw failure counters per IDc; the policy lives in auc/lockout.ts. */
export class FailureRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number, private readonly hot: HotStore) {}

  get(idc: string): Promise<FailureState | undefined> {
    return this.hot.failure(idc);
  }

  /** The records of these IDcs (those that have one), for a page of terminals. */
  async getMany(idcs: string[]): Promise<Map<string, FailureState>> {
    const out = new Map<string, FailureState>();
    if (idcs.length === 0) return out;
    for (const r of await this.knex('auth_failures').whereIn('idc', idcs)) out.set(String(r.idc), toState(r));
    return out;
  }

  /**
   * Failure records for operators: the locked ones first (longest lock
   * first), then by last failure, newest first. `locked` keeps only IDcs
   * locked now.
   */
  async list(filter: { locked?: boolean; prefix?: string }, offset: number, limit: number): Promise<Page<FailureState & { updatedAt: number }>> {
    const t = this.now();
    const q = this.knex('auth_failures');
    if (filter.locked) q.where('locked_until', '>', t);
    if (filter.prefix) q.andWhereRaw(`idc like ? escape '\\'`, [escapeLike(filter.prefix) + '%']);
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q
      .clone()
      .orderBy([{ column: 'locked_until', order: 'desc' }, { column: 'updated_at', order: 'desc' }, { column: 'idc', order: 'asc' }])
      .offset(offset)
      .limit(limit);
    return { items: rows.map((r) => ({ ...toState(r), updatedAt: num(r.updated_at) })), total: num(n), offset, limit };
  }

  put(s: FailureState): Promise<void> {
    return this.hot.putFailure(s, this.now());
  }

  clear(idc: string): Promise<void> {
    return this.hot.clearFailure(idc);
  }

  /** Clears the record and returns what it was (operator unlock). */
  async take(idc: string): Promise<FailureState | undefined> {
    // Read then delete, no transaction: a failure counted in between is cleared too, which is what unlock means.
    const r = await this.knex('auth_failures').where({ idc }).first();
    await this.knex('auth_failures').where({ idc }).delete();
    return r ? toState(r) : undefined;
  }
}

function toState(r: Record<string, unknown>): FailureState {
  return { idc: String(r.idc), count: num(r.count), windowStart: num(r.window_start), lockouts: num(r.lockouts), lockedUntil: num(r.locked_until) };
}
