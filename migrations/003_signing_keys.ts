import type { Knex } from 'knex';

// The SBC's header-signing keys (docs/header-signing.md). One row per key:
// `purpose` names the ring ('via', 'rr'), the key bytes are sealed under the
// master key and bound to (purpose, id), times are Unix ms in bigint columns
// as in 001. Rows are read at start and on rotation, never per message.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sbc_signing_keys', (t) => {
    t.string('id', 32).primary();
    t.string('purpose', 16).notNullable();
    t.text('key_enc').notNullable();
    t.integer('mk_version').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.index(['purpose', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sbc_signing_keys');
}
