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

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}
