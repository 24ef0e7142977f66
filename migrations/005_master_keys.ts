import type { Knex } from 'knex';

// The master keys this database has been sealed under (docs/auc.md, "Keys at
// rest"). One row per version: its key check value (never the key), whether
// it is the current one or was retired by a rotation, and when. Sealed rows
// name their version (`mk_version`, and the `v<n>.` prefix of each sealed
// value); this table is what makes those numbers mean one key each, and what
// lets a start refuse a master key that does not open the database.
// Existing databases get their first row from the store on its next open,
// after it has checked that the configured key opens every sealed value.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('master_keys', (t) => {
    t.integer('version').primary();
    t.string('kcv', 64).notNullable().unique();
    t.string('state', 16).notNullable(); // 'current' (exactly one row) or 'retired'
    t.bigInteger('created_at').notNullable();
    t.bigInteger('retired_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('master_keys');
}
