import type { Knex } from 'knex';
import { num } from './rows.js';

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

/** Registrations recorded at the AuC (s11). */
export class RegistrationRepo {
  constructor(private readonly knex: Knex, private readonly now: () => number) {}

  async record(r: Omit<Registration, 'createdAt' | 'updatedAt'>): Promise<void> {
    const t = this.now();
    await this.knex('registrations')
      .insert({ ...toColumns(r), created_at: t, updated_at: t })
      .onConflict(['idc', 'idsp', 'protocol', 'contact'])
      .merge(['ipc', 'mechanism', 'expires_at', 'updated_at']);
  }

  async remove(idc: string, idsp: string, protocol?: string, contact?: string): Promise<number> {
    const q = this.knex('registrations').where({ idc, idsp });
    if (protocol !== undefined) q.andWhere({ protocol });
    if (contact !== undefined) q.andWhere({ contact });
    return q.delete();
  }

  async forTerminal(idc: string): Promise<Registration[]> {
    const rows = await this.knex('registrations').where({ idc }).andWhere('expires_at', '>', this.now()).orderBy('id');
    return rows.map(toRegistration);
  }

  async purgeExpired(): Promise<number> {
    return this.knex('registrations').where('expires_at', '<=', this.now()).delete();
  }
}

function toColumns(r: Omit<Registration, 'createdAt' | 'updatedAt'>) {
  return { idc: r.idc, idsp: r.idsp, ipc: r.ipc, protocol: r.protocol, contact: r.contact, mechanism: r.mechanism, expires_at: r.expiresAt };
}
