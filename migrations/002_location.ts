import type { Knex } from 'knex';

// The softswitch's location service (RFC 3261 §10): one row per binding of
// an address-of-record to a contact. Times are Unix ms in bigint columns, as
// in 001. `source` is where the REGISTER came from as received
// ("udp:192.0.2.10:5060"); `idsp` names the SBC it came through ('' when the
// terminal registered straight at the softswitch).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sip_bindings', (t) => {
    t.increments('id').primary();
    t.string('aor', 255).notNullable();
    t.string('contact', 1024).notNullable();
    t.integer('q_milli').notNullable().defaultTo(1000);
    t.bigInteger('expires_at').notNullable().index();
    t.string('call_id', 255).notNullable();
    t.bigInteger('cseq').notNullable();
    t.string('source', 128).notNullable();
    t.string('idsp', 255).notNullable().defaultTo('');
    t.string('mechanism', 32).notNullable().defaultTo('');
    t.string('instance', 255).notNullable().defaultTo('');
    t.integer('reg_id').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['aor', 'contact']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sip_bindings');
}
