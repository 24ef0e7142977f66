import type { Knex } from 'knex';
import { join, resolve } from 'node:path';
import { crashPoint } from './crash-point.js';

/**
 * On SQLite the registrar's bindings (`sip_bindings`) live in a file of their
 * own beside keyswitch.sqlite (docs/auc.md "The registrar file"). In WAL mode
 * a commit by one connection makes every other connection drop its page cache
 * of that file; the softswitch commits a binding per REGISTER, and the AuC,
 * reading the same file in another process, paid every page again on its
 * next read. A second file has its own WAL and its own page cache in each
 * connection, so binding commits no longer touch what the AuC reads.
 *
 * knex's connection attaches the file under this schema name, so unqualified
 * `sip_bindings` (admin queries, tests, a later migration) still resolves;
 * the registration path opens the file on a connection of its own
 * (src/store/hot/sqlite.ts). No foreign key crosses the files (SQLite has
 * none across attached databases), and only migration 009 writes both in one
 * transaction (see copyBindingsToRegistrar for why that loses nothing).
 */
export const REGISTRAR_SCHEMA = 'registrar';

export function registrarFile(dataDir: string): string {
  return join(resolve(dataDir), 'registrar.sqlite');
}

/** Migration 002's table, as knex made it on SQLite, in the registrar file. */
const TABLE =
  'CREATE TABLE IF NOT EXISTS registrar.`sip_bindings` (`id` integer not null primary key autoincrement, `aor` varchar(255) not null, ' +
  "`contact` varchar(1024) not null, `q_milli` integer not null default '1000', `expires_at` bigint not null, `call_id` varchar(255) not null, " +
  "`cseq` bigint not null, `source` varchar(128) not null, `idsp` varchar(255) not null default '', `mechanism` varchar(32) not null default '', " +
  "`instance` varchar(255) not null default '', `reg_id` integer null, `created_at` bigint not null, `updated_at` bigint not null)";
const INDEXES = [
  'CREATE INDEX IF NOT EXISTS registrar.`sip_bindings_expires_at_index` on `sip_bindings` (`expires_at`)',
  'CREATE UNIQUE INDEX IF NOT EXISTS registrar.`sip_bindings_aor_contact_unique` on `sip_bindings` (`aor`, `contact`)',
];
const COLUMNS = 'id, aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at';

async function has(knex: Knex, schema: 'main' | typeof REGISTRAR_SCHEMA): Promise<boolean> {
  const rows = (await knex.raw(`SELECT 1 FROM ${schema}.sqlite_master WHERE type = 'table' AND name = 'sip_bindings'`)) as unknown[];
  return rows.length > 0;
}

async function createInRegistrar(knex: Knex): Promise<void> {
  await knex.raw(TABLE);
  for (const sql of INDEXES) await knex.raw(sql);
}

/**
 * Before migrations run (src/store/db.ts `migrate`): copies the bindings of a
 * single-file store into the registrar file, one statement that commits the
 * registrar file alone. Migration 009 then copies again (nothing twice: ids
 * and (aor, contact) are unique) and drops the old table, in knex's
 * transaction with its lock and its record. Under WAL two attached files
 * commit one after the other, keyswitch.sqlite first: a crash between the two
 * commits of that transaction would lose its copy, but this one is already
 * committed, so every binding is kept. Killed anywhere, the next open does it
 * again.
 */
export async function copyBindingsToRegistrar(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') return;
  if (!(await has(knex, 'main'))) return;
  await createInRegistrar(knex);
  await knex.raw(`INSERT OR IGNORE INTO registrar.sip_bindings (${COLUMNS}) SELECT ${COLUMNS} FROM main.sip_bindings`);
  crashPoint('registrar:copied');
}

/** Migration 009: the bindings into the registrar file, the old table dropped. */
export async function moveBindingsToRegistrar(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') return;
  await createInRegistrar(knex);
  if (!(await has(knex, 'main'))) return;
  await knex.raw(`INSERT OR IGNORE INTO registrar.sip_bindings (${COLUMNS}) SELECT ${COLUMNS} FROM main.sip_bindings`);
  await knex.raw('DROP TABLE main.sip_bindings');
}

/**
 * Every open: a registrar file that is missing (a restore that left it out,
 * an operator who deleted it to drop every binding) is made again, empty.
 * Nothing is moved here: before migration 009 the table is still in the main
 * file, and the migration moves it.
 */
export async function ensureRegistrarTable(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') return;
  if (await has(knex, REGISTRAR_SCHEMA)) return;
  if (await has(knex, 'main')) return;
  await createInRegistrar(knex);
}

/** Migration 009's down: the bindings back into keyswitch.sqlite, in the same order (copy, then drop). */
export async function moveBindingsToMain(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') return;
  if (!(await has(knex, REGISTRAR_SCHEMA))) return;
  await knex.raw(TABLE.replace('registrar.', 'main.'));
  for (const sql of INDEXES) await knex.raw(sql.replace('registrar.', 'main.'));
  await knex.raw(`INSERT OR IGNORE INTO main.sip_bindings (${COLUMNS}) SELECT ${COLUMNS} FROM registrar.sip_bindings`);
  await knex.raw('DROP TABLE registrar.sip_bindings');
}
