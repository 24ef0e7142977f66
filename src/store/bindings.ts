import type { Knex } from 'knex';
import { bindingOf } from './hot/binding-rows.js';
import type { HotStore } from './hot/types.js';
import { num } from './rows.js';
import type { BindingDecision, SipBinding } from './records.js';

export type { BindingChange, BindingDecision, NewBinding, SipBinding } from './records.js';

/**
 * The softswitch's location service: in the database (BindingRepo) for one
 * softswitch instance, in Redis (src/store/redis/bindings.ts) when several
 * share it.
 */
export interface LocationStore {
  /** Live bindings of an AoR, highest q first. */
  current(aor: string): Promise<SipBinding[]>;
  count(): Promise<number>;
  /** Reads the live bindings, lets `decide` choose, and commits all or none, atomically for the AoR (RFC 3261 §10.3 step 8). */
  update<T>(aor: string, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<{ committed: boolean; result: T; live: SipBinding[]; removed: SipBinding[] }>;
  removeAll(aor: string, contact?: string): Promise<SipBinding[]>;
  /** Removes up to `limit` expired bindings and returns them, each to one caller only (for de-registration reports). */
  takeExpired(limit?: number): Promise<SipBinding[]>;
}

/**
 * The softswitch's location store. Reads and changes a registration makes go
 * through prepared statements (src/store/hot); operator actions through knex.
 */
export class BindingRepo implements LocationStore {
  constructor(private readonly knex: Knex, private readonly now: () => number, private readonly hot: HotStore) {}

  /** Live bindings of an AoR, highest q first. */
  current(aor: string): Promise<SipBinding[]> {
    return this.hot.bindings(aor, this.now());
  }

  async count(): Promise<number> {
    const r = await this.knex('sip_bindings').where('expires_at', '>', this.now()).count({ n: '*' }).first();
    return num((r as { n?: unknown } | undefined)?.n);
  }

  /**
   * Reads the AoR's live bindings, lets `decide` choose the changes, and
   * commits them all or none (RFC 3261 §10.3 step 8); `live` is what the AoR
   * has after the change. Rows are locked on PostgreSQL so two softswitch
   * instances cannot interleave on one AoR; on SQLite the transaction holds
   * the write lock from its start.
   */
  update<T>(aor: string, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<{ committed: boolean; result: T; live: SipBinding[]; removed: SipBinding[] }> {
    return this.hot.updateBindings(aor, this.now(), decide);
  }

  /** Operator de-registration: removes the AoR's bindings (or the one with this contact) and returns them. */
  async removeAll(aor: string, contact?: string): Promise<SipBinding[]> {
    const q = this.knex('sip_bindings').where({ aor });
    if (contact !== undefined) q.andWhere({ contact });
    const rows = (await q.clone()).map((r: Record<string, unknown>) => bindingOf(r).b);
    if (rows.length === 0) return [];
    const gone: SipBinding[] = [];
    for (const b of rows) if ((await this.knex('sip_bindings').where({ aor, contact: b.contact }).delete()) > 0) gone.push(b);
    return gone.filter((b) => b.expiresAt > this.now());
  }

  /** Deletes up to `limit` expired bindings and returns them (for de-registration reports). */
  takeExpired(limit = 500): Promise<SipBinding[]> {
    return this.hot.takeExpiredBindings(this.now(), limit);
  }
}
