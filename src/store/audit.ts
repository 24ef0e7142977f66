import type { Knex } from 'knex';
import { escapeLike, num, type Page } from './rows.js';

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

/** What the audit log can be filtered by (docs/operations.md). */
export interface AuditFilter {
  /** Exactly this target (an identity, a token id, a source address). */
  target?: string;
  /** Actors starting with this: `cli:`, `token:0123abcd`, `keyswitch-up`. */
  actor?: string;
  /** Actions starting with this: `terminal.`, `terminal.unlock`. */
  action?: string;
  /** From this time on (Unix ms, inclusive). */
  since?: number;
  /** Before this time (Unix ms, exclusive). */
  until?: number;
}

/** Who changed what, when. Callers never put key material in `detail`. */
export class AuditRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async add(actor: string, action: string, target: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.knex('audit_log').insert({ at: this.now(), actor, action, target, detail: JSON.stringify(detail) });
  }

  async list(offset: number, limit: number, filter: AuditFilter = {}): Promise<Page<AuditEntry>> {
    const q = this.knex('audit_log');
    if (filter.target !== undefined) q.where({ target: filter.target });
    if (filter.actor) q.andWhereRaw(`actor like ? escape '\\'`, [escapeLike(filter.actor) + '%']);
    if (filter.action) q.andWhereRaw(`action like ? escape '\\'`, [escapeLike(filter.action) + '%']);
    if (filter.since !== undefined) q.andWhere('at', '>=', filter.since);
    if (filter.until !== undefined) q.andWhere('at', '<', filter.until);
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q.clone().orderBy('id', 'desc').offset(offset).limit(limit);
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
