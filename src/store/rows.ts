import type { Knex } from 'knex';

// SQLite hands back bigint columns as numbers, pg as strings: one place
// turns a raw row value into the number the rest of the code expects.
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  if (v === null || v === undefined) return 0;
  throw new Error(`not a number: ${typeof v}`);
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** A LIKE pattern's literal text: its wildcards and the escape character escaped (queries say `escape '\\'`). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

/** Driver fields of a database error that can hold row values (PostgreSQL's `detail` quotes the failing row). */
const VALUE_FIELDS = ['detail', 'where', 'internalQuery', 'internalPosition', 'position', 'hint', 'file', 'line', 'routine'] as const;

/**
 * knex writes a failed query's SQL, bindings interpolated, into the error's
 * message — an INSERT's sealed key included — and every layer above logs or
 * prints messages. Its 'query-error' event fires before the error is thrown
 * on, so the message is rewritten there to the driver's code and the table,
 * and the fields that quote values are dropped. Nothing downstream sees SQL.
 */
export function hideQueryText(knex: Knex): void {
  knex.on('query-error', (err: unknown, query: { sql?: unknown }) => {
    if (!err || typeof err !== 'object') return;
    const e = err as Record<string, unknown> & { message?: string };
    const code = typeof e.code === 'string' ? e.code : typeof e.errno === 'number' ? `errno ${e.errno}` : 'error';
    const table = typeof e.table === 'string' ? e.table : tableOf(query?.sql);
    const constraint = typeof e.constraint === 'string' ? ` (constraint ${e.constraint})` : '';
    try {
      e.message = `database error ${code}${table ? ` on table ${table}` : ''}${constraint}`;
      for (const f of VALUE_FIELDS) delete e[f];
      // the stack's first line repeats the driver's message, which can quote a value
      if (typeof e.stack === 'string') e.stack = [`${(e as { name?: string }).name ?? 'Error'}: ${e.message}`, ...e.stack.split('\n').filter((l) => /^\s+at /.test(l))].join('\n');
    } catch {
      /* a frozen error keeps its text; the API and CLI still print no 5xx detail */
    }
  });
}

/** The table a statement works on, for the error message only. */
function tableOf(sql: unknown): string | undefined {
  if (typeof sql !== 'string') return undefined;
  const m = /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from|select\b[\s\S]*?\bfrom)\s+[`"[]?([A-Za-z0-9_]+)/i.exec(sql);
  return m?.[1];
}
