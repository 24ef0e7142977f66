import type { Knex } from 'knex';
import { moveBindingsToMain, moveBindingsToRegistrar } from '../src/store/registrar-file.js';

// SQLite only: the registrar's bindings move from keyswitch.sqlite into
// registrar.sqlite (src/store/registrar-file.ts, docs/auc.md "The registrar
// file"), so that the softswitch's commit per REGISTER no longer empties the
// AuC's page cache of the main file. PostgreSQL is unchanged.
// In knex's transaction (its lock and record with it), after the copy that
// src/store/db.ts `migrate` commits before any migration runs: the two files
// commit one after the other, and that copy is what a crash between them
// cannot lose.

export async function up(knex: Knex): Promise<void> {
  await moveBindingsToRegistrar(knex);
}

export async function down(knex: Knex): Promise<void> {
  await moveBindingsToMain(knex);
}
