import type { Knex } from 'knex';
import type { HotStore } from './hot/types.js';
import { escapeLike, num, type Page } from './rows.js';

export interface Registration {
  idc: string;
  idsp: string;
  ipc: string;
  protocol: string;
  contact: string;
  mechanism: string;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

function toRegistration(r: Record<string, unknown>): Registration {
  return {
    idc: String(r.idc),
    idsp: String(r.idsp),
    ipc: String(r.ipc),
    protocol: String(r.protocol),
    contact: String(r.contact),
    mechanism: String(r.mechanism),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    expiresAt: num(r.expires_at),
  };
}

/** What an operator may filter live registrations by (docs/operations.md). */
export interface RegistrationFilter {
  idc?: string;
  /** IDc starts with this. */
  prefix?: string;
  protocol?: string;
  idsp?: string;
  mechanism?: string;
  /** The terminal's address as reported (IPc). */
  ipc?: string;
}

/** Registrations recorded at the AuC (s11). */
export class RegistrationRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number, private readonly hot: HotStore) {}

  /**
   * Upserts the registration; with `clearFailures` the IDc's failure record
   * goes in the same transaction (the AuC's writes for one success).
   * Resolves once committed.
   */
  record(r: Omit<Registration, 'createdAt' | 'updatedAt'>, o: { clearFailures?: boolean } = {}): Promise<void> {
    return this.hot.recordRegistration(r, this.now(), o.clearFailures ?? false);
  }

  /** An AuC deregistration report (s11's counterpart): a hot write, group-committed like record(). */
  remove(idc: string, idsp: string, protocol?: string, contact?: string): Promise<number> {
    return this.hot.removeRegistration(idc, idsp, protocol, contact);
  }

  /** Operator de-registration: this IDc's rows, or those of one protocol and/or contact. */
  async removeWhere(idc: string, protocol?: string, contact?: string): Promise<number> {
    const q = this.knex('registrations').where({ idc });
    if (protocol !== undefined) q.andWhere({ protocol });
    if (contact !== undefined) q.andWhere({ contact });
    return q.delete();
  }

  async forTerminal(idc: string): Promise<Registration[]> {
    const rows = await this.knex('registrations').where({ idc }).andWhere('expires_at', '>', this.now()).orderBy('id');
    return rows.map(toRegistration);
  }

  /** Live registrations, by IDc then protocol and contact, filtered and paged. */
  async list(filter: RegistrationFilter, offset: number, limit: number): Promise<Page<Registration>> {
    const q = this.knex('registrations').where('expires_at', '>', this.now());
    if (filter.idc !== undefined) q.andWhere({ idc: filter.idc });
    if (filter.prefix) q.andWhereRaw(`idc like ? escape '\\'`, [escapeLike(filter.prefix) + '%']);
    if (filter.protocol !== undefined) q.andWhere({ protocol: filter.protocol });
    if (filter.idsp !== undefined) q.andWhere({ idsp: filter.idsp });
    if (filter.mechanism !== undefined) q.andWhere({ mechanism: filter.mechanism });
    if (filter.ipc !== undefined) q.andWhere({ ipc: filter.ipc });
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q.clone().orderBy([{ column: 'idc' }, { column: 'protocol' }, { column: 'contact' }, { column: 'id' }]).offset(offset).limit(limit);
    return { items: rows.map(toRegistration), total: num(n), offset, limit };
  }

  async purgeExpired(): Promise<number> {
    return this.knex('registrations').where('expires_at', '<=', this.now()).delete();
  }
}
