import type { Knex } from 'knex';
import { num } from './rows.js';

export interface Challenge {
  rand: string;
  idc: string;
  idsp: string;
  createdAt: number;
  expiresAt: number;
  used: boolean;
}

/** Outstanding challenges: each Rand is single-use and expires. */
export class ChallengeRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async add(c: Omit<Challenge, 'used' | 'createdAt'>): Promise<void> {
    await this.knex('challenges').insert({ rand: c.rand, idc: c.idc, idsp: c.idsp, created_at: this.now(), expires_at: c.expiresAt, used: 0 });
  }

  async get(rand: string): Promise<Challenge | undefined> {
    const r = await this.knex('challenges').where({ rand }).first();
    if (!r) return undefined;
    return { rand: r.rand, idc: r.idc, idsp: r.idsp, createdAt: num(r.created_at), expiresAt: num(r.expires_at), used: num(r.used) === 1 };
  }

  /**
   * Marks a Rand used if it is outstanding for (idc, idsp) and not expired.
   * One conditional UPDATE, so two racing consumers cannot both win.
   */
  async consume(rand: string, idc: string, idsp: string): Promise<boolean> {
    const n = await this.knex('challenges')
      .where({ rand, idc, idsp, used: 0 })
      .andWhere('expires_at', '>', this.now())
      .update({ used: 1 });
    return n === 1;
  }

  async purgeExpired(olderThan = this.now()): Promise<number> {
    return this.knex('challenges').where('expires_at', '<=', olderThan).delete();
  }
}
