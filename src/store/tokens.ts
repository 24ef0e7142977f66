import type { Knex } from 'knex';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { num } from './rows.js';

export type Role = 'admin' | 'viewer';

export interface OperatorToken {
  id: string;
  role: Role;
  label: string;
  createdAt: number;
  revoked: boolean;
}

const TOKEN = /^ks_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * Operator bearer tokens look like `ks_<id>_<secret>`; only a SHA-256 of the
 * secret is stored. The id lets a lookup find the row without scanning.
 */
export class TokenRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async create(role: Role, label = ''): Promise<{ token: string; record: OperatorToken }> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const createdAt = this.now();
    await this.knex('operator_tokens').insert({ id, hash: hash(secret), role, label, created_at: createdAt, revoked: 0 });
    return { token: `ks_${id}_${secret}`, record: { id, role, label, createdAt, revoked: false } };
  }

  async verify(token: string): Promise<OperatorToken | undefined> {
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const row = await this.knex('operator_tokens').where({ id: m[1] }).first();
    if (!row || num(row.revoked) === 1) return undefined;
    const want = Buffer.from(String(row.hash), 'hex');
    const got = Buffer.from(hash(m[2]), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    return { id: row.id, role: row.role, label: row.label, createdAt: num(row.created_at), revoked: false };
  }

  async list(): Promise<OperatorToken[]> {
    const rows = await this.knex('operator_tokens').orderBy('created_at');
    return rows.map((r) => ({ id: r.id, role: r.role, label: r.label, createdAt: num(r.created_at), revoked: num(r.revoked) === 1 }));
  }

  async revoke(id: string): Promise<boolean> {
    return (await this.knex('operator_tokens').where({ id }).update({ revoked: 1 })) > 0;
  }
}
