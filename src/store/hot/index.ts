import type { Db } from '../db.js';
import { sqliteFile } from '../db.js';
import { registrarFile } from '../registrar-file.js';
import { PgHot } from './pg.js';
import { SqliteHot } from './sqlite.js';
import type { HotStore } from './types.js';

export type { BindingUpdate, HotStore, KeyRow, RegistrationRow } from './types.js';

/** The hot statements for the engine `db` runs on (after migrations: they are prepared against the schema). */
export function openHot(db: Db, o: { dataDir: string; url?: string; schema?: string }): HotStore {
  if (db.engine === 'sqlite') return new SqliteHot(sqliteFile(o.dataDir), registrarFile(o.dataDir));
  return new PgHot({ url: o.url!, ...(o.schema ? { schema: o.schema } : {}) });
}
