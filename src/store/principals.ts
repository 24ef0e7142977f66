import type { Knex } from 'knex';
import type { KeyVault } from '../crypto/vault.js';
import type { HotStore } from './hot/types.js';
import type { FailureState } from './records.js';
import { isUniqueViolation, num, type Page } from './rows.js';

export type Status = 'active' | 'disabled';

export interface Principal {
  id: string;
  status: Status;
  keyGeneration: number;
  hasSipPassword: boolean;
  createdAt: number;
  updatedAt: number;
}

export class DuplicateError extends Error {
  constructor(kind: string, id: string) {
    super(`${kind} ${JSON.stringify(id)} already exists`);
  }
}

interface Shape {
  table: 'terminals' | 'proxies';
  idColumn: 'idc' | 'idsp';
  kind: 'terminal' | 'proxy';
  hasSip: boolean;
}

/**
 * Terminals (IDc, Kc) and proxies (IDsp, Ksp) are the same kind of record: a
 * principal with a long-term key sealed under the master key.
 */
export class PrincipalRepo {
  constructor(
    private readonly knex: Knex,
    private readonly vault: KeyVault,
    private readonly shape: Shape,
    private readonly now: () => number,
    /** Prepared statements for the reads a registration makes (key, SIP password). */
    private readonly hot: HotStore,
  ) {}

  #binding(id: string, what = 'key'): string {
    return `${this.shape.kind}|${what}|${id}`;
  }

  #toPrincipal(row: Record<string, unknown>): Principal {
    return {
      id: String(row[this.shape.idColumn]),
      status: row.status as Status,
      keyGeneration: num(row.key_gen),
      hasSipPassword: this.shape.hasSip ? row.sip_secret_enc != null : false,
      createdAt: num(row.created_at),
      updatedAt: num(row.updated_at),
    };
  }

  async create(id: string, key: Buffer, sipPassword?: string): Promise<Principal> {
    const t = this.now();
    const row: Record<string, unknown> = {
      [this.shape.idColumn]: id,
      key_enc: this.vault.seal(key, this.#binding(id)),
      key_gen: 1,
      mk_version: this.vault.version,
      status: 'active',
      created_at: t,
      updated_at: t,
    };
    if (this.shape.hasSip) {
      row.sip_secret_enc = sipPassword === undefined ? null : this.vault.seal(Buffer.from(sipPassword, 'utf8'), this.#binding(id, 'sip'));
    }
    try {
      await this.knex(this.shape.table).insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateError(this.shape.kind, id);
      throw err;
    }
    return this.#toPrincipal(row);
  }

  async get(id: string): Promise<Principal | undefined> {
    const row = await this.knex(this.shape.table).where(this.shape.idColumn, id).first();
    return row ? this.#toPrincipal(row) : undefined;
  }

  async list(offset: number, limit: number, prefix?: string): Promise<Page<Principal>> {
    const q = this.knex(this.shape.table);
    if (prefix) q.whereRaw(`?? like ? escape '\\'`, [this.shape.idColumn, escapeLike(prefix) + '%']);
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q.clone().orderBy(this.shape.idColumn).offset(offset).limit(limit);
    return { items: rows.map((r) => this.#toPrincipal(r)), total: num(n), offset, limit };
  }

  /** The long-term key in clear, for the AuC's own use only. */
  async key(id: string): Promise<{ key: Buffer; status: Status } | undefined> {
    const row = await this.sealedKey(id);
    return row && { key: this.openSealed(id, row.sealed), status: row.status };
  }

  /**
   * The long-term key as sealed at rest, with its status: what a caller that
   * keeps something derived from the key compares, to know the key has not
   * changed (a rotation seals anew), without opening it.
   */
  async sealedKey(id: string): Promise<{ sealed: string; status: Status } | undefined> {
    const row = await this.hot.key(this.shape.table, id);
    return row ? { sealed: row.keyEnc, status: row.status as Status } : undefined;
  }

  /** The key in clear from a value `sealedKey` returned for the same id. */
  openSealed(id: string, sealed: string): Buffer {
    return this.vault.open(sealed, this.#binding(id));
  }

  async sipPassword(id: string): Promise<string | undefined> {
    if (!this.shape.hasSip) return undefined;
    const enc = await this.hot.sipSecret(id);
    if (!enc) return undefined;
    return this.vault.open(enc, this.#binding(id, 'sip')).toString('utf8');
  }

  /**
   * Status and SIP password of a terminal, and its failure record, in one
   * read (a statement that probes both tables whether the terminal exists or
   * not), without opening its long-term key (a Digest answer needs none).
   * The password comes as its UTF-8 bytes, for the caller to zero once used
   * (a string could not be).
   */
  async digestSecret(id: string): Promise<{ terminal?: { status: Status; password?: Buffer }; failure?: FailureState }> {
    const row = await this.hot.digestRow(id);
    const t = row.terminal;
    const out: { terminal?: { status: Status; password?: Buffer }; failure?: FailureState } = {};
    if (t) out.terminal = t.sipSecretEnc ? { status: t.status as Status, password: this.vault.open(t.sipSecretEnc, this.#binding(id, 'sip')) } : { status: t.status as Status };
    if (row.failure) out.failure = row.failure;
    return out;
  }

  /**
   * A terminal's long-term key and status, and its failure record, in one
   * read (both tables probed whether the terminal exists or not), for a KS1
   * vector.
   */
  async vectorKey(id: string): Promise<{ terminal?: { key: Buffer; status: Status }; failure?: FailureState }> {
    const row = await this.hot.vectorRow(id);
    const t = row.terminal;
    return {
      ...(t ? { terminal: { key: this.vault.open(t.keyEnc, this.#binding(id)), status: t.status as Status } } : {}),
      ...(row.failure ? { failure: row.failure } : {}),
    };
  }

  async rotate(id: string, key: Buffer): Promise<Principal | undefined> {
    const n = await this.knex(this.shape.table)
      .where(this.shape.idColumn, id)
      .update({
        key_enc: this.vault.seal(key, this.#binding(id)),
        mk_version: this.vault.version,
        key_gen: this.knex.raw('key_gen + 1'),
        updated_at: this.now(),
      });
    return n ? this.get(id) : undefined;
  }

  async setSipPassword(id: string, sipPassword: string | null): Promise<Principal | undefined> {
    if (!this.shape.hasSip) throw new Error(`${this.shape.kind} has no SIP password`);
    const n = await this.knex(this.shape.table)
      .where(this.shape.idColumn, id)
      .update({
        sip_secret_enc: sipPassword === null ? null : this.vault.seal(Buffer.from(sipPassword, 'utf8'), this.#binding(id, 'sip')),
        updated_at: this.now(),
      });
    return n ? this.get(id) : undefined;
  }

  async setStatus(id: string, status: Status): Promise<Principal | undefined> {
    const n = await this.knex(this.shape.table).where(this.shape.idColumn, id).update({ status, updated_at: this.now() });
    return n ? this.get(id) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.knex(this.shape.table).where(this.shape.idColumn, id).delete()) > 0;
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

export function terminalRepo(knex: Knex, vault: KeyVault, now: () => number, hot: HotStore): PrincipalRepo {
  return new PrincipalRepo(knex, vault, { table: 'terminals', idColumn: 'idc', kind: 'terminal', hasSip: true }, now, hot);
}

export function proxyRepo(knex: Knex, vault: KeyVault, now: () => number, hot: HotStore): PrincipalRepo {
  return new PrincipalRepo(knex, vault, { table: 'proxies', idColumn: 'idsp', kind: 'proxy', hasSip: false }, now, hot);
}
