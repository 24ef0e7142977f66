import Database from 'better-sqlite3';
import type { BindingDecision, SipBinding } from '../bindings.js';
import type { FailureState } from '../failures.js';
import { num } from '../rows.js';
import { afterChange, BINDING_COLUMNS, bindingOf, bindingOfArray, upsertParams, type AppliedChange, type StoredBinding } from './binding-rows.js';
import { digestRowOfRaw, failureOf, vectorRowOfRaw } from './auth-rows.js';
import type { BindingUpdate, DigestRow, HotStore, KeyRow, RegistrationRow, VectorRow } from './types.js';

/** Writes committed together at most; the rest waits for the next batch. */
const MAX_BATCH = 256;
/** How long a batch waits for another process's write lock before its writes fail (as busy_timeout did). */
const BUSY_GIVE_UP_MS = 5000;

interface Queued {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED';
}

/**
 * The hot statements on SQLite, on a connection of their own beside knex's.
 *
 * Writes are group-committed: every write asked for in one turn of the event
 * loop runs in one `BEGIN IMMEDIATE … COMMIT` (each in a savepoint, so one
 * that fails is undone alone), and each caller's promise resolves after the
 * COMMIT: nothing is acknowledged before it is in the database. better-sqlite3
 * is synchronous, so a batch holds the write lock only while it runs, never
 * across an await.
 *
 * The write lock is taken without waiting (busy_timeout 0) and retried from a
 * timer: waiting inside SQLite would stop the event loop, and a knex
 * transaction of this same process (an operator action) could hold the lock
 * across an await and never get to finish.
 */
export class SqliteHot implements HotStore {
  readonly #db: Database.Database;
  readonly #s;
  #queue: Queued[] = [];
  #scheduled = false;
  #busySince = 0;
  #closed = false;

  constructor(file: string) {
    const db = new Database(file);
    this.#db = db;
    db.pragma('busy_timeout = 0');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      begin: p('BEGIN IMMEDIATE'),
      commit: p('COMMIT'),
      rollback: p('ROLLBACK'),
      savepoint: p('SAVEPOINT op'),
      release: p('RELEASE op'),
      undo: p('ROLLBACK TO op'),
      batchMark: p('SAVEPOINT batch'),
      batchUndo: p('ROLLBACK TO batch'),
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
      live: p(`SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE aor = ? AND expires_at > ? ORDER BY q_milli DESC, id ASC`),
      liveRows: p(`SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE aor = ? AND expires_at > ? ORDER BY q_milli DESC, id ASC`).raw(true),
      removeBinding: p('DELETE FROM sip_bindings WHERE aor = ? AND contact = ?'),
      putBinding: p(
        'INSERT INTO sip_bindings (aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (aor, contact) DO UPDATE SET q_milli = excluded.q_milli, expires_at = excluded.expires_at, ' +
          'call_id = excluded.call_id, cseq = excluded.cseq, source = excluded.source, idsp = excluded.idsp, mechanism = excluded.mechanism, ' +
          'instance = excluded.instance, reg_id = excluded.reg_id, updated_at = excluded.updated_at RETURNING id, created_at',
      ),
      // a refresh: the row is known to exist (read in this transaction), so no INSERT is attempted and no conflict resolved
      // its id and creation time are those of the row read: no RETURNING (which buffers the row and steps again)
      refreshBinding: p(
        'UPDATE sip_bindings SET q_milli = ?, expires_at = ?, call_id = ?, cseq = ?, source = ?, idsp = ?, mechanism = ?, instance = ?, reg_id = ?, updated_at = ? ' +
          'WHERE id = ? AND aor = ? AND contact = ?',
      ),
      expired: p(`SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`),
      removeExpired: p('DELETE FROM sip_bindings WHERE aor = ? AND contact = ? AND expires_at <= ?'),
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
    return this.#write(() => void this.#s.putFailure.run(s.idc, s.count, s.windowStart, s.lockouts, s.lockedUntil, now));
  }

  clearFailure(idc: string): Promise<void> {
    return this.#write(() => void this.#s.clearFailure.run(idc));
  }

  recordRegistration(r: RegistrationRow, now: number, clearFailure: boolean): Promise<void> {
    return this.#write(() => {
      this.#s.record.run(r.idc, r.idsp, r.ipc, r.protocol, r.contact, r.mechanism, r.expiresAt, now, now);
      if (clearFailure) this.#s.clearFailure.run(r.idc);
    });
  }

  removeRegistration(idc: string, idsp: string, protocol?: string, contact?: string): Promise<number> {
    return this.#write(() => this.#s.removeRecord.run({ idc, idsp, protocol: protocol ?? null, contact: contact ?? null }).changes);
  }

  async bindings(aor: string, now: number): Promise<SipBinding[]> {
    return (this.#s.live.all(aor, now) as Record<string, unknown>[]).map((r) => bindingOf(r).b);
  }

  updateBindings<T>(aor: string, now: number, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<BindingUpdate<T>> {
    return this.#write(() => {
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
    return this.#write(() => {
      const gone: SipBinding[] = [];
      for (const r of this.#s.expired.all(now, limit) as Record<string, unknown>[]) {
        const { b } = bindingOf(r);
        if (this.#s.removeExpired.run(b.aor, b.contact, now).changes > 0) gone.push(b);
      }
      return gone;
    });
  }

  #write<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    try {
      this.#s.begin.run();
    } catch (err) {
      if (!isBusy(err)) return this.#fail(this.#queue.splice(0), err);
      const t = Date.now();
      if (this.#busySince === 0) this.#busySince = t;
      if (t - this.#busySince >= BUSY_GIVE_UP_MS) {
        this.#busySince = 0;
        return this.#fail(this.#queue.splice(0), err);
      }
      this.#scheduled = true;
      setTimeout(() => this.#flush(), Math.min(50, 1 + (t - this.#busySince) / 10));
      return;
    }
    this.#busySince = 0;
    const batch = this.#queue.splice(0, MAX_BATCH);
    this.#runBatch(batch);
    if (this.#queue.length && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Runs a batch inside the transaction #flush began, commits, then settles the callers. */
  #runBatch(batch: Queued[]): void {
    const out: Array<{ ok: true; v: unknown } | { ok: false; e: unknown }> = [];
    if (batch.length === 1) return this.#runOne(batch[0]!);
    try {
      // First without a savepoint per write (two statements fewer each). Should one throw, the whole
      // batch is undone to this mark (the transaction, and its lock, stay) and runs again with a
      // savepoint per write, so the failing one is undone alone: a write reads what it needs inside
      // the transaction, so running it again gives what running it once would have.
      this.#s.batchMark.run();
      const values: unknown[] = [];
      if (this.#runAll(batch, values)) {
        this.#s.commit.run();
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(values[i]);
        return;
      }
      this.#s.batchUndo.run();
      for (const q of batch) {
        this.#s.savepoint.run();
        try {
          const v = q.run();
          this.#s.release.run();
          out.push({ ok: true, v });
        } catch (e) {
          this.#s.undo.run();
          this.#s.release.run();
          out.push({ ok: false, e });
        }
      }
      this.#s.commit.run();
    } catch (err) {
      // The transaction itself failed (disk full, I/O error): none of the batch is in the database.
      try {
        if (this.#db.inTransaction) this.#s.rollback.run();
      } catch {
        /* rolled back by SQLite already */
      }
      return this.#fail(batch, err);
    }
    for (let i = 0; i < batch.length; i++) {
      const o = out[i]!;
      if (o.ok) batch[i]!.resolve(o.v);
      else batch[i]!.reject(o.e);
    }
  }

  /** Runs every write of the batch, their values into `out`; false (and `out` partial) at the first that throws. */
  #runAll(batch: Queued[], out: unknown[]): boolean {
    try {
      for (const q of batch) out.push(q.run());
      return true;
    } catch {
      return false;
    }
  }

  /** A batch of one needs no savepoint: if its write fails, rolling the transaction back undoes it alone. */
  #runOne(q: Queued): void {
    let v: unknown;
    try {
      v = q.run();
    } catch (e) {
      try {
        if (this.#db.inTransaction) this.#s.rollback.run();
      } catch {
        /* rolled back by SQLite already */
      }
      return q.reject(e);
    }
    try {
      this.#s.commit.run();
    } catch (err) {
      try {
        if (this.#db.inTransaction) this.#s.rollback.run();
      } catch {
        /* rolled back by SQLite already */
      }
      return q.reject(err);
    }
    q.resolve(v);
  }

  #fail(batch: Queued[], err: unknown): void {
    for (const q of batch) q.reject(err);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // What is queued is committed before the connection closes, waiting for the lock as long as a batch would.
    this.#db.pragma(`busy_timeout = ${BUSY_GIVE_UP_MS}`);
    while (this.#queue.length) {
      try {
        this.#s.begin.run();
      } catch (err) {
        this.#fail(this.#queue.splice(0), err);
        break;
      }
      this.#runBatch(this.#queue.splice(0, MAX_BATCH));
    }
    this.#db.close();
  }
}
