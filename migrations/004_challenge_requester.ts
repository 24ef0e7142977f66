import type { Knex } from 'knex';

// Which wire peer asked for each challenge (docs/diameter.md, docs/radius.md
// "Reports are bound to their requester"): `requester` is `diameter:<Origin-Host>`
// or `radius:<client address>` ('' for in-process calls and rows from before
// this migration). `kind` tells a KS1 challenge ('ks1', keyed by its Rand)
// from a Digest grant ('digest': the AuC handed HA1 to that requester, which
// may then report one Digest outcome for that IDc).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('challenges', (t) => {
    t.string('requester', 255).notNullable().defaultTo('');
    t.string('kind', 8).notNullable().defaultTo('ks1');
    t.index(['idc', 'requester']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('challenges', (t) => {
    t.dropIndex(['idc', 'requester']);
    t.dropColumn('kind');
    t.dropColumn('requester');
  });
}
