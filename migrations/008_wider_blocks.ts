import type { Knex } from 'knex';

// The intrusion detection's blocks (docs/ids.md) land in sbc_blocks beside the
// signature guard's: their source can be `id:<identity>` (up to 255 + 3
// characters) or a v6 flow, and their reason names a rule. 006 sized these
// for an IPv4 address and a fixed word, and PostgreSQL refused longer values
// (22001). SQLite does not enforce a varchar's length, so only PostgreSQL's
// columns change.
// Only the type changes (raw ALTER … TYPE): knex's alter() also drops and sets
// NOT NULL, which PostgreSQL refuses on a primary-key column (42P16).
const COLUMNS: [table: string, column: string, wide: number, narrow: number][] = [
  ['sbc_blocks', 'source', 512, 64],
  ['sbc_blocks', 'reason', 255, 32],
  ['sbc_source_failures', 'source', 512, 64],
];

export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'pg') return;
  for (const [table, column, wide] of COLUMNS) await knex.raw('ALTER TABLE ?? ALTER COLUMN ?? TYPE varchar(' + wide + ')', [table, column]);
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'pg') return;
  for (const [table, column, , narrow] of COLUMNS) await knex.raw('ALTER TABLE ?? ALTER COLUMN ?? TYPE varchar(' + narrow + ')', [table, column]);
}
