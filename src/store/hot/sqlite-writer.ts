import type Database from 'better-sqlite3';

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
 * The writes of one SQLite connection, group-committed: every write asked
 * for in one turn of the event loop runs in one `BEGIN IMMEDIATE … COMMIT`
 * (each in a savepoint, so one that fails is undone alone), and each caller's
 * promise resolves after the COMMIT: nothing is acknowledged before it is in the database. better-sqlite3
 * is synchronous, so a batch holds the write lock only while it runs, never
 * across an await.
 *
 * The write lock is taken without waiting (busy_timeout 0) and retried from a
 * timer: waiting inside SQLite would stop the event loop, and a knex
 * transaction of this same process (an operator action) could hold the lock
 * across an await and never get to finish.
 */
export class SqliteWriter {
  readonly #db: Database.Database;
  readonly #s;
  #queue: Queued[] = [];
  #scheduled = false;
  #busySince = 0;
  #closed = false;

  constructor(db: Database.Database) {
    this.#db = db;
    db.pragma('busy_timeout = 0');
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
    };
  }

  write<T>(run: () => T): Promise<T> {
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
      this.#rollback();
      return q.reject(e);
    }
    try {
      this.#s.commit.run();
    } catch (err) {
      this.#rollback();
      return q.reject(err);
    }
    q.resolve(v);
  }

  #rollback(): void {
    try {
      if (this.#db.inTransaction) this.#s.rollback.run();
    } catch {
      /* rolled back by SQLite already */
    }
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
