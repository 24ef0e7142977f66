import type { Knex } from 'knex';

// What operators see of the SBCs and how they steer them through the shared
// store (docs/operations.md, "Split deployments"). Written by an SBC on rare
// events or on a timer, never per message; times are Unix ms as in 001.
//
// sbc_blocks: a source an SBC blocked (reason, failures, until when). One row
// per block event of one SBC process (`instance`, random per start); `lifted_at`
// is set when an operator lifts it or the SBC stops.
//
// sbc_source_failures: each SBC process's bounded snapshot of failures per
// source (most failures first), rewritten on a timer when it changed.
//
// operator_actions: what an operator asked the SBCs to do (unblock a source,
// drop the session of a de-registered IDc). Every SBC reads the rows after the
// last one it saw, on a timer; `origin` names the SBC process that already
// applied it in-process ('' none), which skips it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sbc_blocks', (t) => {
    t.increments('id').primary();
    t.string('idsp', 255).notNullable();
    t.string('instance', 32).notNullable();
    t.string('source', 64).notNullable();
    t.string('reason', 32).notNullable();
    t.integer('failures').notNullable().defaultTo(0);
    t.integer('window_ms').notNullable().defaultTo(0);
    t.bigInteger('blocked_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.bigInteger('lifted_at').nullable();
    t.index(['source']);
  });
  await knex.schema.createTable('sbc_source_failures', (t) => {
    t.string('instance', 32).notNullable();
    t.string('idsp', 255).notNullable();
    t.string('source', 64).notNullable();
    t.integer('total').notNullable();
    t.text('by_kind').notNullable().defaultTo('{}');
    t.bigInteger('first_at').notNullable();
    t.bigInteger('last_at').notNullable();
    t.bigInteger('updated_at').notNullable().index();
    t.primary(['instance', 'source']);
  });
  await knex.schema.createTable('operator_actions', (t) => {
    t.increments('id').primary();
    t.bigInteger('at').notNullable().index();
    t.string('action', 32).notNullable();
    t.string('target', 512).notNullable();
    t.string('origin', 32).notNullable().defaultTo('');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['operator_actions', 'sbc_source_failures', 'sbc_blocks']) await knex.schema.dropTableIfExists(table);
}
