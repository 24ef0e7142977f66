import { createRequire } from 'node:module';
import type pg from 'pg';
import type { BindingDecision, SipBinding } from '../bindings.js';
import type { FailureState } from '../failures.js';
import { num } from '../rows.js';
import { afterChange, BINDING_COLUMNS, bindingOf, upsertParams, type AppliedChange, type StoredBinding } from './binding-rows.js';
import type { BindingUpdate, DigestRow, HotStore, KeyRow, RegistrationRow, VectorRow } from './types.js';
import { digestRowOf, vectorRowOf } from './auth-rows.js';

// Loaded when a PostgreSQL store is opened, not by every process that could open one (the CLI on SQLite).
const loadPg = (): typeof pg => createRequire(import.meta.url)('pg') as typeof pg;

/**
 * Named statements: pg prepares each once per connection (Parse on first
 * use, then only Bind/Execute), parameters always bound.
 */
const Q = {
  terminalKey: { name: 'ks_terminal_key', text: 'SELECT key_enc, status FROM terminals WHERE idc = $1' },
  proxyKey: { name: 'ks_proxy_key', text: 'SELECT key_enc, status FROM proxies WHERE idsp = $1' },
  sipSecret: { name: 'ks_sip_secret', text: 'SELECT sip_secret_enc FROM terminals WHERE idc = $1' },
  digestRow: {
    name: 'ks_digest_row',
    text:
      'SELECT t.status, t.sip_secret_enc, f.idc AS f_idc, f.count, f.window_start, f.lockouts, f.locked_until ' +
      'FROM (SELECT $1::text AS idc) q LEFT JOIN terminals t ON t.idc = q.idc LEFT JOIN auth_failures f ON f.idc = q.idc',
  },
  vectorRow: {
    name: 'ks_vector_row',
    text:
      'SELECT t.key_enc, t.status, f.idc AS f_idc, f.count, f.window_start, f.lockouts, f.locked_until ' +
      'FROM (SELECT $1::text AS idc) q LEFT JOIN terminals t ON t.idc = q.idc LEFT JOIN auth_failures f ON f.idc = q.idc',
  },
  failure: { name: 'ks_failure', text: 'SELECT idc, count, window_start, lockouts, locked_until FROM auth_failures WHERE idc = $1' },
  putFailure: {
    name: 'ks_put_failure',
    text:
      'INSERT INTO auth_failures (idc, count, window_start, lockouts, locked_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ' +
      'ON CONFLICT (idc) DO UPDATE SET count = excluded.count, window_start = excluded.window_start, lockouts = excluded.lockouts, locked_until = excluded.locked_until, updated_at = excluded.updated_at',
  },
  clearFailure: { name: 'ks_clear_failure', text: 'DELETE FROM auth_failures WHERE idc = $1' },
  record: {
    name: 'ks_record',
    text:
      'INSERT INTO registrations (idc, idsp, ipc, protocol, contact, mechanism, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ' +
      'ON CONFLICT (idc, idsp, protocol, contact) DO UPDATE SET ipc = excluded.ipc, mechanism = excluded.mechanism, expires_at = excluded.expires_at, updated_at = excluded.updated_at',
  },
  // One statement, so one round trip and atomic: the failure record goes with the registration's upsert.
  recordClearing: {
    name: 'ks_record_clearing',
    text:
      'WITH cleared AS (DELETE FROM auth_failures WHERE idc = $1) ' +
      'INSERT INTO registrations (idc, idsp, ipc, protocol, contact, mechanism, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ' +
      'ON CONFLICT (idc, idsp, protocol, contact) DO UPDATE SET ipc = excluded.ipc, mechanism = excluded.mechanism, expires_at = excluded.expires_at, updated_at = excluded.updated_at',
  },
  removeRecord: {
    name: 'ks_remove_record',
    text: 'DELETE FROM registrations WHERE idc = $1 AND idsp = $2 AND ($3::text IS NULL OR protocol = $3) AND ($4::text IS NULL OR contact = $4)',
  },
  live: { name: 'ks_live', text: `SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE aor = $1 AND expires_at > $2 ORDER BY q_milli DESC, id ASC` },
  // Locks the AoR's rows so that two softswitch instances cannot interleave on one AoR.
  liveForUpdate: { name: 'ks_live_for_update', text: `SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE aor = $1 AND expires_at > $2 ORDER BY q_milli DESC, id ASC FOR UPDATE` },
  removeBinding: { name: 'ks_remove_binding', text: 'DELETE FROM sip_bindings WHERE aor = $1 AND contact = $2' },
  putBinding: {
    name: 'ks_put_binding',
    text:
      'INSERT INTO sip_bindings (aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at) ' +
      'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (aor, contact) DO UPDATE SET q_milli = excluded.q_milli, expires_at = excluded.expires_at, ' +
      'call_id = excluded.call_id, cseq = excluded.cseq, source = excluded.source, idsp = excluded.idsp, mechanism = excluded.mechanism, ' +
      'instance = excluded.instance, reg_id = excluded.reg_id, updated_at = excluded.updated_at RETURNING id, created_at',
  },
  expired: { name: 'ks_expired', text: `SELECT ${BINDING_COLUMNS} FROM sip_bindings WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED` },
  removeExpired: { name: 'ks_remove_expired', text: 'DELETE FROM sip_bindings WHERE aor = $1 AND contact = $2 AND expires_at <= $3' },
} as const;

type Named = (typeof Q)[keyof typeof Q];

/** Writes committed together at most; the rest waits for the next batch. */
const MAX_BATCH = 256;

/** One statement of a group commit and its caller. */
interface QueuedWrite {
  q: Named;
  values: unknown[];
  resolve: (r: pg.QueryResult<Record<string, unknown>>) => void;
  reject: (e: unknown) => void;
}

/** Driver fields of a PostgreSQL error that can quote row values (`detail` quotes the failing row). */
const VALUE_FIELDS = ['detail', 'where', 'internalQuery', 'internalPosition', 'position', 'hint', 'file', 'line', 'routine'] as const;

/** The error with its code and table only, as knex's errors are rewritten (src/store/rows.ts): no value reaches a log. */
function quiet(err: unknown): unknown {
  if (!err || typeof err !== 'object') return err;
  const e = err as Record<string, unknown> & { message?: string };
  const code = typeof e.code === 'string' ? e.code : 'error';
  try {
    e.message = `database error ${code}${typeof e.table === 'string' ? ` on table ${e.table}` : ''}${typeof e.constraint === 'string' ? ` (constraint ${e.constraint})` : ''}`;
    for (const f of VALUE_FIELDS) delete e[f];
    if (typeof e.stack === 'string') e.stack = [`Error: ${e.message}`, ...e.stack.split('\n').filter((l) => /^\s+at /.test(l))].join('\n');
  } catch {
    /* frozen */
  }
  return err;
}

export interface PgHotOptions {
  url: string;
  schema?: string;
  max?: number;
}

/** The hot statements on PostgreSQL, over a pool of their own beside knex's. */
export class PgHot implements HotStore {
  readonly #pool: pg.Pool;
  /** Operations under way: close() lets them finish (a write acknowledged is a write committed). */
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;
  #queue: QueuedWrite[] = [];
  #scheduled = false;
  #flushing: Promise<void> | undefined;

  constructor(o: PgHotOptions) {
    if (o.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.schema)) throw new Error('schema name must be an identifier');
    this.#pool = new (loadPg().Pool)({
      connectionString: o.url,
      max: o.max ?? 10,
      idleTimeoutMillis: 10_000,
      ...(o.schema ? { options: `-c search_path=${o.schema}` } : {}),
    });
    // An idle connection dropped by the server: the pool replaces it; no unhandled 'error'.
    this.#pool.on('error', () => undefined);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const done = () => void this.#inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  #q(q: Named, values: unknown[], client?: pg.PoolClient): Promise<pg.QueryResult<Record<string, unknown>>> {
    if (client) return this.#run(q, values, client);
    if (this.#closed) return Promise.reject(new Error('store closed'));
    return this.#track(this.#run(q, values));
  }

  async #run(q: Named, values: unknown[], client?: pg.PoolClient): Promise<pg.QueryResult<Record<string, unknown>>> {
    try {
      return await (client ?? this.#pool).query<Record<string, unknown>>({ name: q.name, text: q.text, values });
    } catch (err) {
      throw quiet(err);
    }
  }

  /**
   * A single-statement write, group-committed: every such write asked for in
   * one turn of the event loop goes to the server in one transaction, and
   * each caller's promise settles after its COMMIT (nothing is acknowledged
   * before it is committed). If a statement of the batch fails, the batch is
   * rolled back and each write runs again on its own, so that one bad write
   * fails alone. Only idempotent single statements are batched; the binding
   * transactions (a read under FOR UPDATE, a decision, writes) keep a
   * transaction each: row locks of many AoRs held across round trips would
   * let two softswitch instances deadlock.
   */
  #write(q: Named, values: unknown[]): Promise<pg.QueryResult<Record<string, unknown>>> {
    if (this.#closed) return Promise.reject(new Error('store closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ q, values, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  #flush(): Promise<void> {
    this.#scheduled = false;
    // One batch at a time, in order: the next one gathers what arrives meanwhile (and a later write never commits
    // before an earlier one of this process).
    if (this.#flushing) return this.#flushing;
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return Promise.resolve();
    const run = this.#track(batch.length === 1 ? this.#alone(batch[0]!) : this.#group(batch));
    this.#flushing = run.then(() => {
      this.#flushing = undefined;
      if (this.#queue.length && !this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
    return this.#flushing;
  }

  /** One write in autocommit: its own transaction, without BEGIN/COMMIT round trips. */
  async #alone(w: QueuedWrite): Promise<void> {
    try {
      w.resolve(await this.#run(w.q, w.values));
    } catch (err) {
      w.reject(err);
    }
  }

  async #group(batch: QueuedWrite[]): Promise<void> {
    let c: pg.PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (err) {
      for (const w of batch) w.reject(quiet(err));
      return;
    }
    let results: pg.QueryResult<Record<string, unknown>>[];
    try {
      await c.query('BEGIN');
      // One statement at a time: pg sends a client's queries one after another anyway, and a query
      // queued behind a running one is deprecated in pg 8.23 and refused from pg 9.
      results = [];
      for (const w of batch) results.push(await c.query<Record<string, unknown>>({ name: w.q.name, text: w.q.text, values: w.values }));
      await c.query('COMMIT');
    } catch {
      try {
        await c.query('ROLLBACK');
        c.release();
      } catch (e) {
        c.release(e as Error);
      }
      // Nothing of the batch is committed: each write on its own, in order, so that only the bad one fails.
      for (const w of batch) await this.#alone(w);
      return;
    }
    c.release();
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
  }

  #tx<T>(run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store closed'));
    return this.#track(this.#inTx(run));
  }

  /** Errors of the statements are already quieted by #run; the callback's own errors pass unchanged. */
  async #inTx<T>(run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (err) {
      throw quiet(err);
    }
    try {
      await c.query('BEGIN').catch((e: unknown) => Promise.reject(quiet(e)));
      const v = await run(c);
      await c.query('COMMIT').catch((e: unknown) => Promise.reject(quiet(e)));
      c.release();
      return v;
    } catch (err) {
      try {
        await c.query('ROLLBACK');
        c.release();
      } catch (e) {
        c.release(e as Error);
      }
      throw err;
    }
  }

  async key(table: 'terminals' | 'proxies', id: string): Promise<KeyRow | undefined> {
    const r = (await this.#q(table === 'terminals' ? Q.terminalKey : Q.proxyKey, [id])).rows[0];
    return r ? { keyEnc: String(r.key_enc), status: String(r.status) } : undefined;
  }

  async sipSecret(idc: string): Promise<string | null | undefined> {
    const r = (await this.#q(Q.sipSecret, [idc])).rows[0];
    return r ? ((r.sip_secret_enc as string | null) ?? null) : undefined;
  }

  async digestRow(idc: string): Promise<DigestRow> {
    return digestRowOf((await this.#q(Q.digestRow, [idc])).rows[0] as Record<string, unknown>);
  }

  async vectorRow(idc: string): Promise<VectorRow> {
    return vectorRowOf((await this.#q(Q.vectorRow, [idc])).rows[0] as Record<string, unknown>);
  }

  async failure(idc: string): Promise<FailureState | undefined> {
    const r = (await this.#q(Q.failure, [idc])).rows[0];
    return r ? { idc: String(r.idc), count: num(r.count), windowStart: num(r.window_start), lockouts: num(r.lockouts), lockedUntil: num(r.locked_until) } : undefined;
  }

  async putFailure(s: FailureState, now: number): Promise<void> {
    await this.#write(Q.putFailure, [s.idc, s.count, s.windowStart, s.lockouts, s.lockedUntil, now]);
  }

  async clearFailure(idc: string): Promise<void> {
    await this.#write(Q.clearFailure, [idc]);
  }

  async recordRegistration(r: RegistrationRow, now: number, clearFailure: boolean): Promise<void> {
    await this.#write(clearFailure ? Q.recordClearing : Q.record, [r.idc, r.idsp, r.ipc, r.protocol, r.contact, r.mechanism, r.expiresAt, now, now]);
  }

  async removeRegistration(idc: string, idsp: string, protocol?: string, contact?: string): Promise<number> {
    return (await this.#write(Q.removeRecord, [idc, idsp, protocol ?? null, contact ?? null])).rowCount ?? 0;
  }

  async bindings(aor: string, now: number): Promise<SipBinding[]> {
    return (await this.#q(Q.live, [aor, now])).rows.map((r) => bindingOf(r).b);
  }

  updateBindings<T>(aor: string, now: number, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<BindingUpdate<T>> {
    return this.#tx(async (c) => {
      const rows: StoredBinding[] = (await this.#q(Q.liveForUpdate, [aor, now], c)).rows.map(bindingOf);
      const live = rows.map((s) => s.b);
      const d = decide(live);
      if ('abort' in d) return { committed: false, result: d.abort, live, removed: [] };
      const removed: SipBinding[] = [];
      const applied: AppliedChange[] = [];
      for (const ch of d.commit) {
        if (ch.op === 'remove') {
          const n = (await this.#q(Q.removeBinding, [aor, ch.contact], c)).rowCount ?? 0;
          const was = live.find((b) => b.contact === ch.contact);
          if (n > 0 && was) removed.push(was);
          applied.push(ch);
        } else {
          if (ch.binding.aor !== aor) throw new Error('binding for another AoR');
          const r = (await this.#q(Q.putBinding, upsertParams(ch.binding, now), c)).rows[0]!;
          applied.push({ op: 'put', b: ch.binding, id: num(r.id), createdAt: num(r.created_at) });
        }
      }
      return { committed: true, result: d.result, live: afterChange(rows, applied, now), removed };
    });
  }

  takeExpiredBindings(now: number, limit: number): Promise<SipBinding[]> {
    return this.#tx(async (c) => {
      const gone: SipBinding[] = [];
      for (const r of (await this.#q(Q.expired, [now, limit], c)).rows) {
        const { b } = bindingOf(r);
        // Another instance may have refreshed it meanwhile: delete only what is still expired.
        if (((await this.#q(Q.removeExpired, [b.aor, b.contact, now], c)).rowCount ?? 0) > 0) gone.push(b);
      }
      return gone;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // What is queued is committed before the pool ends (a write asked for before close() is not dropped).
    while (this.#queue.length || this.#flushing) await this.#flush();
    await Promise.allSettled([...this.#inFlight]);
    await this.#pool.end();
  }
}
