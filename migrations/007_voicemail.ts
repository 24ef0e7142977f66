import type { Knex } from 'knex';

// Secure voicemail's licence server (docs/voicemail.md, "Licence server").
//
// voicemail_messages: one row per deposited message; key_enc is its content
// key sealed under the master key (binding `voicemail|key|<id>`, listed in
// src/store/master-key.ts SEALED so a rotation re-seals it). `revoked_at`
// set: no licence to anyone. Times are Unix ms as in 001.
//
// voicemail_grants: who may play it and how. One per (message, holder); the
// owner's is made at deposit (parent null), a delegation's names the grant it
// came from. plays_left null: no limit; expires_at null: never. Booleans are
// 0/1 integers, the same on both engines.
//
// voicemail_passwords: a subscriber's voicemail password as a scrypt hash.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('voicemail_messages', (t) => {
    t.string('id', 32).primary();
    t.string('key_id', 32).notNullable();
    t.text('key_enc').notNullable();
    t.integer('mk_version').notNullable();
    t.string('owner', 255).notNullable().index();
    t.string('sender', 255).notNullable().index();
    t.string('sender_display', 512).notNullable();
    t.bigInteger('recorded_at').notNullable();
    t.integer('duration_ms').notNullable();
    t.string('codec', 8).notNullable();
    t.string('package_sha256', 64).notNullable();
    t.integer('package_bytes').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('revoked_at').nullable();
    t.string('revoked_by', 255).nullable();
  });
  await knex.schema.createTable('voicemail_grants', (t) => {
    t.increments('id').primary();
    t.string('message_id', 32).notNullable();
    t.string('holder', 255).notNullable().index();
    t.integer('parent_id').nullable().index();
    t.string('granted_by', 255).notNullable();
    t.integer('plays_left').nullable();
    t.integer('plays_used').notNullable().defaultTo(0);
    t.bigInteger('expires_at').nullable();
    t.integer('may_forward').notNullable();
    t.integer('may_modify').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('revoked_at').nullable();
    t.unique(['message_id', 'holder']);
  });
  await knex.schema.createTable('voicemail_passwords', (t) => {
    t.string('idc', 255).primary();
    t.text('hash').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['voicemail_passwords', 'voicemail_grants', 'voicemail_messages']) await knex.schema.dropTableIfExists(table);
}
