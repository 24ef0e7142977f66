import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import { openStore, type Store, type StoreOptions } from '../../src/store/index.js';

export const PG_URL = process.env.KEYSWITCH_TEST_PG_URL ?? 'postgres://keyswitch:keyswitch@127.0.0.1:5432/keyswitch_test';

async function pgReachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

const pgProblem = await pgReachable();
if (pgProblem && process.env.KEYSWITCH_TEST_REQUIRE_PG === '1') {
  throw new Error(`KEYSWITCH_TEST_REQUIRE_PG=1 but PostgreSQL is unreachable: ${pgProblem}`);
}
if (pgProblem) {
  // Said once per test file, so a skipped PostgreSQL run is visible in the output.
  console.warn(`[keyswitch tests] PostgreSQL at ${PG_URL.replace(/:[^:@/]*@/, ':***@')} unreachable (${pgProblem}): PostgreSQL suites SKIPPED`);
}

export interface EngineContext {
  engine: 'sqlite' | 'postgres';
  /** Options for a fresh, isolated store (its own data dir; its own schema on PostgreSQL). */
  storeOptions(extra?: Partial<StoreOptions>): StoreOptions;
  open(extra?: Partial<StoreOptions>): Promise<Store>;
  /** Removes temporary directories and schemas made by this context. */
  cleanup(): Promise<void>;
}

export function makeContext(engine: 'sqlite' | 'postgres'): EngineContext {
  const dirs: string[] = [];
  const schemas: string[] = [];
  const ctx: EngineContext = {
    engine,
    storeOptions(extra = {}) {
      const dataDir = mkdtempSync(join(tmpdir(), 'ks-test-'));
      dirs.push(dataDir);
      const opts: StoreOptions = { dataDir, masterKeyHex: randomBytes(32).toString('hex'), ...extra };
      if (engine === 'postgres' && !opts.url) {
        const schema = `t_${randomBytes(6).toString('hex')}`;
        schemas.push(schema);
        opts.url = PG_URL;
        opts.schema = schema;
      }
      return opts;
    },
    open(extra) {
      return openStore(ctx.storeOptions(extra));
    },
    async cleanup() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
      if (schemas.length) {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        for (const s of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        await client.end();
      }
    },
  };
  return ctx;
}

/** Runs a suite once on SQLite and once on PostgreSQL (skipped, and said so, when unreachable). */
export function describeEngines(name: string, body: (ctx: EngineContext) => void): void {
  describe(`${name} [sqlite]`, () => body(makeContext('sqlite')));
  const d = pgProblem ? describe.skip : describe;
  d(`${name} [postgres]`, () => body(makeContext('postgres')));
}

/**
 * Where roles run as separate processes keep their store: on PostgreSQL a
 * fresh schema (migrated here) reached through `dbUrl`, each role its own data
 * directory, as in docker-compose.yml; on SQLite one shared data directory
 * (`dbUrl` empty), so that they share the one file. `masterKey` opens it.
 */
export async function rolesStore(ctx: EngineContext, dir: string): Promise<{ dbUrl: string; masterKey: string; dataDir(role: string): string }> {
  const pgOpts = ctx.storeOptions();
  const dbUrl = ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '';
  if (ctx.engine === 'postgres') await (await openStore(pgOpts)).close();
  return {
    dbUrl,
    masterKey: pgOpts.masterKeyHex!,
    dataDir(role: string) {
      const d = join(dir, ctx.engine === 'postgres' ? role : 'shared');
      mkdirSync(d, { recursive: true });
      return d;
    },
  };
}
