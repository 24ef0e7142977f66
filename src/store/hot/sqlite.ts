import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import type { BindingDecision, SipBinding } from '../bindings.js';
import type { FailureState } from '../failures.js';
import { num } from '../rows.js';
import { afterChange, BINDING_COLUMNS, bindingOf, bindingOfArray, upsertParams, type AppliedChange, type StoredBinding } from './binding-rows.js';
import { digestRowOfRaw, failureOf, vectorRowOfRaw } from './auth-rows.js';
import { SqliteWriter } from './sqlite-writer.js';
import type { BindingUpdate, DigestRow, HotStore, KeyRow, RegistrationRow, VectorRow } from './types.js';

function open(file: string): Database.Database {
  // the native module is loaded when a SQLite store is opened
  const db = new (createRequire(import.meta.url)('better-sqlite3') as typeof Database)(file);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // A batch runs inside a savepoint (sqlite-writer.ts), whose undo journal SQLite otherwise keeps in a
  // temporary file: created, written page by page and unlinked by every batch, 7,000 writes in the second
  // a load stepped up (docs/performance.md, "Statement journals in memory (session 17)").
  db.pragma('temp_store = MEMORY');
  return db;
}

/**
 * The hot statements on SQLite, on connections of their own beside knex's:
 * one on keyswitch.sqlite (the AuC's keys, failures and registration
 * records), one on registrar.sqlite (the softswitch's bindings;
 * src/store/registrar-file.ts). Each connection's writes are group-committed
 * by its SqliteWriter; no operation writes both files.
 */
export class SqliteHot implements HotStore {
  readonly #main: SqliteWriter;
  readonly #reg: SqliteWriter;
  readonly #s;
  #closed = false;

  constructor(file: string, registrarFile: string) {
    const db = open(file);
    // only once the main connection is open: a failure here must not leave it open
    let reg: Database.Database;
    try {
      reg = open(registrarFile);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#main = new SqliteWriter(db);
    this.#reg = new SqliteWriter(reg);
    const p = (sql: string) => db.prepare(sql);
    const r = (sql: string) => reg.prepare(sql);
    this.#s = {
      terminalKey: p('SELECT key_enc, status FROM terminals WHERE idc = ?'),
      proxyKey: p('SELECT key_enc, status FROM proxies WHERE idsp = ?'),
      sipSecret: p('SELECT sip_secret_enc FROM terminals WHERE idc = ?'),
      digestRow: p(
        'SELECT t.status, t.sip_secret_enc, f.idc AS f_idc, f.count, f.window_start, f.lockouts, f.locked_until ' +
          'FROM (SELECT ? AS idc) q LEFT JOIN terminals t ON t.idc = q.idc LEFT JOIN auth_failures f ON f.idc = q.idc',
      ).raw(true),
      vectorRow: p(
        'SELECT t.key_enc, t.status, f.idc AS f_idc, f.count, f.window_start, f.lockouts, f.locked_until ' +
          'FROM (SELECT ? AS idc) q LEFT JOIN terminals t ON t.idc = q.idc LEFT JOIN auth_failures f ON f.idc = q.idc',
      ).raw(true),
      failure: p('SELECT idc, count, window_start, lockouts, locked_until FROM auth_failures WHERE idc = ?'),
      putFailure: p(
        'INSERT INTO auth_failures (idc, count, window_start, lockouts, locked_until, updated_at) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (idc) DO UPDATE SET count = excluded.count, window_start = excluded.window_start, lockouts = excluded.lockouts, locked_until = excluded.locked_until, updated_at = excluded.updated_at',
      ),
      clearFailure: p('DELETE FROM auth_failures WHERE idc = ?'),
      record: p(
        'INSERT INTO registrations (idc, idsp, ipc, protocol, contact, mechanism, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (idc, idsp, protocol, contact) DO UPDATE SET ipc = excluded.ipc, mechanism = excluded.mechanism, expires_at = excluded.expires_at, updated_at = excluded.updated_at',
      ),
      removeRecord: p(
        'DELETE FROM registrations WHERE idc = @idc AND idsp = @idsp AND (@protocol IS NULL OR protocol = @protocol) AND (@contact IS NULL OR contact = @contact)',
      ),
      live: r(`SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE aor = ? AND expires_at > ? ORDER BY q_milli DESC, id ASC`),
      liveRows: r(`SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE aor = ? AND expires_at > ? ORDER BY q_milli DESC, id ASC`).raw(true),
      removeBinding: r('DELETE FROM sip_bindings WHERE aor = ? AND contact = ?'),
      putBinding: r(
        'INSERT INTO sip_bindings (aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (aor, contact) DO UPDATE SET q_milli = excluded.q_milli, expires_at = excluded.expires_at, ' +
          'call_id = excluded.call_id, cseq = excluded.cseq, source = excluded.source, idsp = excluded.idsp, mechanism = excluded.mechanism, ' +
          'instance = excluded.instance, reg_id = excluded.reg_id, updated_at = excluded.updated_at RETURNING id, created_at',
      ),
      // a refresh: the row is known to exist (read in this transaction), so no INSERT is attempted and no conflict resolved
      // its id and creation time are those of the row read: no RETURNING (which buffers the row and steps again)
      refreshBinding: r(
        'UPDATE sip_bindings SET q_milli = ?, expires_at = ?, call_id = ?, cseq = ?, source = ?, idsp = ?, mechanism = ?, instance = ?, reg_id = ?, updated_at = ? ' +
          'WHERE id = ? AND aor = ? AND contact = ?',
      ),
      expired: r(`SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`),
      removeExpired: r('DELETE FROM sip_bindings WHERE aor = ? AND contact = ? AND expires_at <= ?'),
    };
  }

  async key(table: 'terminals' | 'proxies', id: string): Promise<KeyRow | undefined> {
    const r = (table === 'terminals' ? this.#s.terminalKey : this.#s.proxyKey).get(id) as { key_enc: string; status: string } | undefined;
    return r ? { keyEnc: r.key_enc, status: r.status } : undefined;
  }

  async sipSecret(idc: string): Promise<string | null | undefined> {
    const r = this.#s.sipSecret.get(idc) as { sip_secret_enc: string | null } | undefined;
    return r ? r.sip_secret_enc : undefined;
  }

  async digestRow(idc: string): Promise<DigestRow> {
    return digestRowOfRaw(this.#s.digestRow.get(idc) as unknown[]);
  }

  async vectorRow(idc: string): Promise<VectorRow> {
    return vectorRowOfRaw(this.#s.vectorRow.get(idc) as unknown[]);
  }

  async failure(idc: string): Promise<FailureState | undefined> {
    const r = this.#s.failure.get(idc) as Record<string, unknown> | undefined;
    return r ? failureOf(r, r.idc) : undefined;
  }

  putFailure(s: FailureState, now: number): Promise<void> {
    return this.#main.write(() => void this.#s.putFailure.run(s.idc, s.count, s.windowStart, s.lockouts, s.lockedUntil, now));
  }

  clearFailure(idc: string): Promise<void> {
    return this.#main.write(() => void this.#s.clearFailure.run(idc));
  }

  recordRegistration(r: RegistrationRow, now: number, clearFailure: boolean): Promise<void> {
    return this.#main.write(() => {
      this.#s.record.run(r.idc, r.idsp, r.ipc, r.protocol, r.contact, r.mechanism, r.expiresAt, now, now);
      if (clearFailure) this.#s.clearFailure.run(r.idc);
    });
  }

  removeRegistration(idc: string, idsp: string, protocol?: string, contact?: string): Promise<number> {
    return this.#main.write(() => this.#s.removeRecord.run({ idc, idsp, protocol: protocol ?? null, contact: contact ?? null }).changes);
  }

  async bindings(aor: string, now: number): Promise<SipBinding[]> {
    return (this.#s.live.all(aor, now) as Record<string, unknown>[]).map((r) => bindingOf(r).b);
  }

  updateBindings<T>(aor: string, now: number, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<BindingUpdate<T>> {
    return this.#reg.write(() => {
      const rows: StoredBinding[] = (this.#s.liveRows.all(aor, now) as unknown[][]).map(bindingOfArray);
      const live = rows.map((s) => s.b);
      const d = decide(live);
      if ('abort' in d) return { committed: false, result: d.abort, live, removed: [] };
      const removed: SipBinding[] = [];
      const applied: AppliedChange[] = [];
      for (const c of d.commit) {
        if (c.op === 'remove') {
          const n = this.#s.removeBinding.run(aor, c.contact).changes;
          const was = live.find((b) => b.contact === c.contact);
          if (n > 0 && was) removed.push(was);
          applied.push(c);
        } else {
          const b = c.binding;
          if (b.aor !== aor) throw new Error('binding for another AoR');
          // a live row read above (this transaction holds the write lock) is updated in place; else, or if
          // this decision removed it already, the upsert
          const row = rows.find((x) => x.b.contact === b.contact);
          if (row && this.#s.refreshBinding.run(Math.round(b.q * 1000), b.expiresAt, b.callId, b.cseq, b.source, b.idsp, b.mechanism, b.instance, b.regId ?? null, now, row.id, aor, b.contact).changes === 1) {
            applied.push({ op: 'put', b: c.binding, id: row.id, createdAt: row.b.createdAt });
            continue;
          }
          const r = this.#s.putBinding.get(...upsertParams(b, now)) as { id: unknown; created_at: unknown };
          applied.push({ op: 'put', b: c.binding, id: num(r.id), createdAt: num(r.created_at) });
        }
      }
      return { committed: true, result: d.result, live: afterChange(rows, applied, now), removed };
    });
  }

  takeExpiredBindings(now: number, limit: number): Promise<SipBinding[]> {
    return this.#reg.write(() => {
      const gone: SipBinding[] = [];
      for (const r of this.#s.expired.all(now, limit) as Record<string, unknown>[]) {
        const { b } = bindingOf(r);
        if (this.#s.removeExpired.run(b.aor, b.contact, now).changes > 0) gone.push(b);
      }
      return gone;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // each writer commits what is queued before its connection closes
    try {
      await this.#main.close();
    } finally {
      await this.#reg.close();
    }
  }
}
