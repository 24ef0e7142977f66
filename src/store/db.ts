import knexFactory, { type Knex } from 'knex';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrationSource } from './migration-source.js';

export type Engine = 'sqlite' | 'postgres';

export interface DbOptions {
  /** postgres://… selects PostgreSQL; empty selects SQLite in dataDir. */
  url?: string;
  dataDir: string;
  /** PostgreSQL schema to use (tests give each suite its own). */
  schema?: string;
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
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const file = join(opts.dataDir, 'keyswitch.sqlite');
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
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
          cacheStatements(conn);
          done(null, conn);
        },
      },
    });
    describe = `sqlite ${file}`;
  } else {
    const schema = opts.schema;
    knex = knexFactory({
      client: 'pg',
      connection: opts.url,
      searchPath: schema ? [schema] : undefined,
      pool: { min: 0, max: 10 },
    });
    if (schema) await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
    describe = `postgres ${redactUrl(opts.url!)}${schema ? ` schema ${schema}` : ''}`;
  }
  return { knex, engine, describe };
}

export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
