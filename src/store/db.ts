import type { Knex } from 'knex';
import { createRequire } from 'node:module';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { migrationSource } from './migration-source.js';
import { copyBindingsToRegistrar, registrarFile, REGISTRAR_SCHEMA } from './registrar-file.js';
import { hideQueryText } from './rows.js';
import { knexLog } from '../log/logger.js';

// knex and its lodash (some 330 files) are loaded when a store is opened, not by every process that imports the store's types and helpers
const knexFactory = (config: Knex.Config): Knex => (createRequire(import.meta.url)('knex') as typeof import('knex')).knex(config);

export type Engine = 'sqlite' | 'postgres';

export interface DbOptions {
  /** postgres://… selects PostgreSQL; empty selects SQLite in dataDir. */
  url?: string;
  dataDir: string;
  /** PostgreSQL schema to use (tests give each suite its own). */
  schema?: string;
  /**
   * Create the data directory (mode 0700) when something must be written in
   * it and it does not exist. Default true for the library; the CLI passes
   * false unless the operator asked (--init), so that it never starts a new,
   * empty store in whatever directory it happens to run in.
   */
  createDataDir?: boolean;
}

export interface Db {
  knex: Knex;
  engine: Engine;
  describe: string;
}

export function engineOf(url: string | undefined): Engine {
  if (!url) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres';
  throw new Error(`unsupported database URL (expected postgres://…): ${redactUrl(url)}`);
}

/** Hides the password of a database URL so it can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

/** A data directory that is missing when the caller may not create it. */
export class DataDirError extends Error {}

/**
 * Makes sure the data directory exists: creates it (0700) when allowed,
 * otherwise refuses with what to do.
 */
export function ensureDataDir(dataDir: string, create: boolean): string {
  const dir = resolve(dataDir);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new DataDirError(`data directory ${dir} is not a directory`);
    return dir;
  }
  if (!create) {
    throw new DataDirError(`data directory ${dir} does not exist; give --data-dir (or KEYSWITCH_DATA_DIR) for an existing one, or --init to create it (keyswitch up creates it on first start)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** The SQLite file of a data directory. */
export function sqliteFile(dataDir: string): string {
  return join(resolve(dataDir), 'keyswitch.sqlite');
}

/**
 * One line naming the store, for operators: `sqlite /abs/path/keyswitch.sqlite`
 * or `postgres host:port/db` (never the user's password).
 */
export function describeStore(opts: { url?: string; dataDir: string; schema?: string }): string {
  if (engineOf(opts.url) === 'sqlite') return `sqlite ${sqliteFile(opts.dataDir)}`;
  let where: string;
  try {
    const u = new URL(opts.url!);
    where = `${u.host}${u.pathname}`;
  } catch {
    where = '(unparsable URL)';
  }
  return `postgres ${where}${opts.schema ? ` schema ${opts.schema}` : ''}`;
}

/**
 * The database file, its WAL and its shared-memory index hold sealed keys and
 * hashes: 0600. SQLite creates -wal and -shm with the mode of the database
 * file, so the file is created 0600 before SQLite opens it; files of an older
 * install are brought to 0600 too.
 */
function secureSqliteFiles(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    if (existsSync(f) && (statSync(f).mode & 0o777) !== 0o600) chmodSync(f, 0o600);
  }
}

interface SqliteConnection {
  pragma(s: string): unknown;
  prepare(sql: string): unknown;
}

const STATEMENT_CACHE = 256;
const DML = /^\s*(?:select|insert|update|delete|with)\b/i;

/**
 * knex hands every query's SQL to better-sqlite3's prepare, which compiles it
 * again each time (40% of the store CPU of a registration). The queries
 * come from a few call sites with bindings kept apart, so the same texts
 * recur: keep their prepared statements. Safe because better-sqlite3 runs a
 * statement to completion synchronously (knex uses all/run, never iterate),
 * and SQLite re-prepares a statement itself when the schema changed.
 */
function cacheStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let st = cache.get(sql);
    if (st !== undefined) return st;
    st = prepare(sql);
    if (DML.test(sql)) {
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
      cache.set(sql, st);
    }
    return st;
  };
}

export async function openDb(opts: DbOptions): Promise<Db> {
  const engine = engineOf(opts.url);
  let knex: Knex;
  let describe: string;
  if (engine === 'sqlite') {
    ensureDataDir(opts.dataDir, opts.createDataDir ?? true);
    const file = sqliteFile(opts.dataDir);
    secureSqliteFiles(file);
    const registrar = registrarFile(opts.dataDir);
    secureSqliteFiles(registrar);
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      // knex prints its warnings (a connection error with its stack) as plain text unless given a log
      log: knexLog(),
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
          // WAL lets a CLI process read and write while a server holds the file.
          conn.pragma('journal_mode = WAL');
          conn.pragma('busy_timeout = 5000');
          // With WAL, NORMAL syncs at checkpoints rather than at every commit: a power cut may lose
          // the last commits but never corrupts the file (SQLite's advice for WAL). FULL cost four
          // fsyncs per registration at the AuC.
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          // the registrar's bindings, in their own file (src/store/registrar-file.ts); synchronous is per file
          (conn.prepare(`ATTACH DATABASE ? AS ${REGISTRAR_SCHEMA}`) as { run(file: string): unknown }).run(registrar);
          conn.pragma(`${REGISTRAR_SCHEMA}.journal_mode = WAL`);
          conn.pragma(`${REGISTRAR_SCHEMA}.synchronous = NORMAL`);
          cacheStatements(conn);
          done(null, conn);
        },
      },
    });
    describe = describeStore(opts);
  } else {
    const schema = opts.schema;
    knex = knexFactory({
      client: 'pg',
      connection: opts.url,
      log: knexLog(),
      searchPath: schema ? [schema] : undefined,
      pool: { min: 0, max: 10 },
    });
    if (schema) await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
    describe = describeStore(opts);
  }
  hideQueryText(knex);
  return { knex, engine, describe };
}

export async function migrate(db: Db): Promise<string[]> {
  await copyBindingsToRegistrar(db.knex);
  const [, applied] = (await db.knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
