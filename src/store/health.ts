import type { Db } from './db.js';

/**
 * The store's part of /healthz: a read of a real table, not `select 1`,
 * so that a PostgreSQL schema dropped or not migrated counts as down, as
 * does a closed pool. Resolves to the reason when down (a driver code, never
 * the SQL), undefined when up.
 */
export function storeCheck(store: { db: Db }): () => Promise<string | undefined> {
  return async () => {
    try {
      await store.db.knex('terminals').select(store.db.knex.raw('1')).limit(1);
      return undefined;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return `${store.db.engine} store unreachable${typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? ` (${code})` : ''}`;
    }
  };
}
