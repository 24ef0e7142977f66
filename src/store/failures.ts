import type { Knex } from 'knex';
import { num } from './rows.js';

export interface FailureState {
  idc: string;
  count: number;
  windowStart: number;
  lockouts: number;
  lockedUntil: number;
}

/** Raw failure counters per IDc; the policy lives in auc/lockout.ts. */
export class FailureRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async get(idc: string): Promise<FailureState | undefined> {
    const r = await this.knex('auth_failures').where({ idc }).first();
    if (!r) return undefined;
    return { idc, count: num(r.count), windowStart: num(r.window_start), lockouts: num(r.lockouts), lockedUntil: num(r.locked_until) };
  }

  async put(s: FailureState): Promise<void> {
    await this.knex('auth_failures')
      .insert({ idc: s.idc, count: s.count, window_start: s.windowStart, lockouts: s.lockouts, locked_until: s.lockedUntil, updated_at: this.now() })
      .onConflict('idc')
      .merge();
  }

  async clear(idc: string): Promise<void> {
    await this.knex('auth_failures').where({ idc }).delete();
  }
}
