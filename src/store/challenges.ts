import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { num } from './rows.js';

export type ChallengeKind = 'ks1' | 'digest';

export interface Challenge {
  rand: string;
  idc: string;
  idsp: string;
  createdAt: number;
  expiresAt: number;
  used: boolean;
  /** The wire peer that asked for it ('' for in-process calls). */
  requester: string;
  kind: ChallengeKind;
}

/**
 * Outstanding challenges: each Rand is single-use and expires. Beside KS1
 * challenges the table keeps Digest grants: "this requester was given HA1
 * for this IDc", which entitles it to one Digest outcome report.
 */
export class ChallengeRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async add(c: Omit<Challenge, 'used' | 'createdAt' | 'requester' | 'kind'> & { requester?: string }): Promise<void> {
    await this.knex('challenges').insert({
      rand: c.rand,
      idc: c.idc,
      idsp: c.idsp,
      created_at: this.now(),
      expires_at: c.expiresAt,
      used: 0,
      requester: c.requester ?? '',
      kind: 'ks1',
    });
  }

  async get(rand: string): Promise<Challenge | undefined> {
    const r = await this.knex('challenges').where({ rand }).first();
    if (!r) return undefined;
    return {
      rand: r.rand,
      idc: r.idc,
      idsp: r.idsp,
      createdAt: num(r.created_at),
      expiresAt: num(r.expires_at),
      used: num(r.used) === 1,
      requester: r.requester ?? '',
      kind: r.kind === 'digest' ? 'digest' : 'ks1',
    };
  }

  /**
   * Marks a Rand used if it is outstanding for (idc, idsp) and not expired.
   * One conditional UPDATE, so two racing consumers cannot both win.
   */
  async consume(rand: string, idc: string, idsp: string): Promise<boolean> {
    const n = await this.knex('challenges')
      .where({ rand, idc, idsp, used: 0, kind: 'ks1' })
      .andWhere('expires_at', '>', this.now())
      .update({ used: 1 });
    return n === 1;
  }

  /** Records that `requester` was given Digest HA1 for `idc` (its key is no Rand: '.' is not base64url). */
  async grantDigest(idc: string, requester: string, expiresAt: number): Promise<void> {
    await this.knex('challenges').insert({
      rand: `dg.${randomBytes(15).toString('base64url')}`,
      idc,
      idsp: '',
      created_at: this.now(),
      expires_at: expiresAt,
      used: 0,
      requester,
      kind: 'digest',
    });
  }

  /** Uses up one outstanding Digest grant of `requester` for `idc`; false when it holds none. */
  async consumeDigestGrant(idc: string, requester: string): Promise<boolean> {
    const row = await this.knex('challenges')
      .where({ idc, requester, kind: 'digest', used: 0 })
      .andWhere('expires_at', '>', this.now())
      .orderBy('expires_at')
      .first('rand');
    if (!row) return false;
    const n = await this.knex('challenges').where({ rand: row.rand, used: 0 }).update({ used: 1 });
    return n === 1;
  }

  async purgeExpired(olderThan = this.now()): Promise<number> {
    return this.knex('challenges').where('expires_at', '<=', olderThan).delete();
  }
}
