import type { Knex } from 'knex';
import { num, type Page } from './rows.js';

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

/** Who changed what, when. Callers never put key material in `detail`. */
export class AuditRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async add(actor: string, action: string, target: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.knex('audit_log').insert({ at: this.now(), actor, action, target, detail: JSON.stringify(detail) });
  }

  async list(offset: number, limit: number): Promise<Page<AuditEntry>> {
    const [{ n }] = await this.knex('audit_log').count({ n: '*' });
    const rows = await this.knex('audit_log').orderBy('id', 'desc').offset(offset).limit(limit);
    const items = rows.map((r) => ({
      id: num(r.id),
      at: num(r.at),
      actor: String(r.actor),
      action: String(r.action),
      target: String(r.target),
      detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
    }));
    return { items, total: num(n), offset, limit };
  }
}
