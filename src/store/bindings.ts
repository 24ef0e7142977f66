import type { Knex } from 'knex';
import { num } from './rows.js';

/** One SIP binding of an address-of-record to a contact (RFC 3261 §10). */
export interface SipBinding {
  aor: string;
  /** The contact URI, normalised by the registrar (the comparison key). */
  contact: string;
  /** 0..1 (stored as thousandths). */
  q: number;
  expiresAt: number; // Unix ms
  callId: string;
  cseq: number;
  /** Where the REGISTER came from as received: `udp:192.0.2.10:5060`. */
  source: string;
  /** The SBC it came through; '' when registered straight at the softswitch. */
  idsp: string;
  /** KS1 mechanism chosen at registration; '' for Digest or none. */
  mechanism: string;
  /** RFC 5626 +sip.instance and reg-id, when given. */
  instance: string;
  regId?: number;
  createdAt: number;
  updatedAt: number;
}

export type NewBinding = Omit<SipBinding, 'createdAt' | 'updatedAt'>;

export type BindingChange = { op: 'put'; binding: NewBinding } | { op: 'remove'; contact: string };

/** What the registrar decides, given the live bindings it read inside the transaction. */
export type BindingDecision<T> = { commit: BindingChange[]; result: T } | { abort: T };

function toBinding(r: Record<string, unknown>): SipBinding {
  const b: SipBinding = {
    aor: String(r.aor),
    contact: String(r.contact),
    q: num(r.q_milli) / 1000,
    expiresAt: num(r.expires_at),
    callId: String(r.call_id),
    cseq: num(r.cseq),
    source: String(r.source),
    idsp: String(r.idsp),
    mechanism: String(r.mechanism),
    instance: String(r.instance),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
  if (r.reg_id !== null && r.reg_id !== undefined) b.regId = num(r.reg_id);
  return b;
}

function toColumns(b: NewBinding) {
  return {
    aor: b.aor,
    contact: b.contact,
    q_milli: Math.round(b.q * 1000),
    expires_at: b.expiresAt,
    call_id: b.callId,
    cseq: b.cseq,
    source: b.source,
    idsp: b.idsp,
    mechanism: b.mechanism,
    instance: b.instance,
    reg_id: b.regId ?? null,
  };
}

const ORDER: Array<{ column: string; order: 'asc' | 'desc' }> = [
  { column: 'q_milli', order: 'desc' },
  { column: 'id', order: 'asc' },
];

/**
 * knex opens SQLite transactions with a plain (deferred) BEGIN. A transaction
 * that reads and then writes fails at its first write with SQLITE_BUSY_SNAPSHOT
 * when another process (the AuC shares the file) committed in between, and
 * busy_timeout cannot help, since waiting would not make the snapshot current.
 * A write that changes nothing, first, takes the write lock as BEGIN IMMEDIATE
 * would, waiting under busy_timeout; the reads then see the latest data.
 */
async function writeLockFirst(trx: Knex.Transaction): Promise<void> {
  await trx.raw('UPDATE sip_bindings SET id = id WHERE 0');
}

/** The softswitch's location store. */
export class BindingRepo {
  readonly #sqlite: boolean;

  constructor(private readonly knex: Knex, private readonly now: () => number) {
    const client = String((knex.client as { config?: { client?: unknown } }).config?.client ?? '');
    this.#sqlite = client.includes('sqlite');
  }

  /** Live bindings of an AoR, highest q first. */
  async current(aor: string): Promise<SipBinding[]> {
    const rows = await this.knex('sip_bindings').where({ aor }).andWhere('expires_at', '>', this.now()).orderBy(ORDER);
    return rows.map(toBinding);
  }

  async count(): Promise<number> {
    const r = await this.knex('sip_bindings').where('expires_at', '>', this.now()).count({ n: '*' }).first();
    return num((r as { n?: unknown } | undefined)?.n);
  }

  /**
   * Reads the AoR's live bindings, lets `decide` choose the changes, and
   * commits them all or none (RFC 3261 §10.3 step 8). Rows are locked on
   * PostgreSQL so two softswitch instances cannot interleave on one AoR;
   * SQLite serialises writers itself.
   */
  async update<T>(aor: string, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<{ committed: boolean; result: T; live: SipBinding[]; removed: SipBinding[] }> {
    return this.knex.transaction(async (trx) => {
      if (this.#sqlite) await writeLockFirst(trx);
      const t = this.now();
      const q = trx('sip_bindings').where({ aor }).andWhere('expires_at', '>', t).orderBy(ORDER);
      if (!this.#sqlite) q.forUpdate();
      const live = (await q).map(toBinding);
      const d = decide(live);
      if ('abort' in d) return { committed: false, result: d.abort, live, removed: [] };
      const removed: SipBinding[] = [];
      for (const c of d.commit) {
        if (c.op === 'remove') {
          const n = await trx('sip_bindings').where({ aor, contact: c.contact }).delete();
          const was = live.find((b) => b.contact === c.contact);
          if (n > 0 && was) removed.push(was);
        } else {
          if (c.binding.aor !== aor) throw new Error('binding for another AoR');
          await trx('sip_bindings')
            .insert({ ...toColumns(c.binding), created_at: t, updated_at: t })
            .onConflict(['aor', 'contact'])
            .merge(['q_milli', 'expires_at', 'call_id', 'cseq', 'source', 'idsp', 'mechanism', 'instance', 'reg_id', 'updated_at']);
        }
      }
      const after = (await trx('sip_bindings').where({ aor }).andWhere('expires_at', '>', t).orderBy(ORDER)).map(toBinding);
      return { committed: true, result: d.result, live: after, removed };
    });
  }

  /** Operator de-registration: removes the AoR's bindings (or the one with this contact) and returns them. */
  async removeAll(aor: string, contact?: string): Promise<SipBinding[]> {
    const q = this.knex('sip_bindings').where({ aor });
    if (contact !== undefined) q.andWhere({ contact });
    const rows = (await q.clone()).map(toBinding);
    if (rows.length === 0) return [];
    const gone: SipBinding[] = [];
    for (const b of rows) if ((await this.knex('sip_bindings').where({ aor, contact: b.contact }).delete()) > 0) gone.push(b);
    return gone.filter((b) => b.expiresAt > this.now());
  }

  /** Deletes up to `limit` expired bindings and returns them (for de-registration reports). */
  async takeExpired(limit = 500): Promise<SipBinding[]> {
    const t = this.now();
    return this.knex.transaction(async (trx) => {
      if (this.#sqlite) await writeLockFirst(trx);
      const rows = (await trx('sip_bindings').where('expires_at', '<=', t).orderBy('expires_at').limit(limit)).map(toBinding);
      const gone: SipBinding[] = [];
      for (const b of rows) {
        // Another instance may have refreshed or taken it meanwhile: delete only what is still expired.
        const n = await trx('sip_bindings').where({ aor: b.aor, contact: b.contact }).andWhere('expires_at', '<=', t).delete();
        if (n > 0) gone.push(b);
      }
      return gone;
    });
  }
}
