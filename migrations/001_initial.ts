import type { Knex } from 'knex';

// Times are Unix milliseconds in bigint columns; booleans are 0/1 integers so
// that SQLite and PostgreSQL hand back the same shapes to the store.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('terminals', (t) => {
    t.string('idc', 255).primary();
    t.text('key_enc').notNullable();
    t.integer('key_gen').notNullable().defaultTo(1);
    t.integer('mk_version').notNullable();
    t.text('sip_secret_enc').nullable();
    t.string('status', 16).notNullable().defaultTo('active');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
  await knex.schema.createTable('proxies', (t) => {
    t.string('idsp', 255).primary();
    t.text('key_enc').notNullable();
    t.integer('key_gen').notNullable().defaultTo(1);
    t.integer('mk_version').notNullable();
    t.string('status', 16).notNullable().defaultTo('active');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
  await knex.schema.createTable('challenges', (t) => {
    t.string('rand', 32).primary();
    t.string('idc', 255).notNullable();
    t.string('idsp', 255).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.integer('used').notNullable().defaultTo(0);
  });
  await knex.schema.createTable('registrations', (t) => {
    t.increments('id').primary();
    t.string('idc', 255).notNullable();
    t.string('idsp', 255).notNullable();
    t.string('ipc', 64).notNullable();
    t.string('protocol', 16).notNullable();
    t.text('contact').notNullable().defaultTo('');
    t.string('mechanism', 32).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.unique(['idc', 'idsp', 'protocol', 'contact']);
  });
  await knex.schema.createTable('auth_failures', (t) => {
    t.string('idc', 255).primary();
    t.integer('count').notNullable().defaultTo(0);
    t.bigInteger('window_start').notNullable();
    t.integer('lockouts').notNullable().defaultTo(0);
    t.bigInteger('locked_until').notNullable().defaultTo(0);
    t.bigInteger('updated_at').notNullable();
  });
  await knex.schema.createTable('operator_tokens', (t) => {
    t.string('id', 32).primary();
    t.string('hash', 64).notNullable();
    t.string('role', 16).notNullable();
    t.string('label', 255).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.integer('revoked').notNullable().defaultTo(0);
  });
  await knex.schema.createTable('audit_log', (t) => {
    t.increments('id').primary();
    t.bigInteger('at').notNullable();
    t.string('actor', 255).notNullable();
    t.string('action', 64).notNullable();
    t.string('target', 512).notNullable();
    t.text('detail').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['audit_log', 'operator_tokens', 'auth_failures', 'registrations', 'challenges', 'proxies', 'terminals']) {
    await knex.schema.dropTableIfExists(table);
  }
}
