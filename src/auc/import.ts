import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/index.js';
import { DuplicateError } from '../store/index.js';
import { crashPoint } from '../store/crash-point.js';
import { parseCsv } from './csv.js';
import { identityProblem, keyProblem, sipPasswordProblem } from './validate.js';

export interface ImportReport {
  total: number;
  created: number;
  unchanged: number;
  failed: number;
  errors: { line: number; idc?: string; message: string }[];
  /** Keys generated for rows without one: shown once, to the caller only. */
  generated: { idc: string; key: string }[];
}

export interface ImportOptions {
  actor: string;
  onProgress?: (done: number, total: number) => void;
  /**
   * Called with each generated key before its terminal is created; the
   * terminal is created only once this resolves (the CLI appends it to
   * --keys-out and fsyncs). If it throws, the row fails with its message and
   * nothing is created. Without it the keys are only in the report (the API
   * answers them).
   */
  keepKey?: (generated: { idc: string; key: string }) => Promise<void> | void;
}

/**
 * Bulk import of terminals from CSV (`idc,key,sip_password`, key and
 * sip_password optional). Idempotent: a row that matches what is stored
 * changes nothing; a row that contradicts it is reported, not applied.
 */
export async function importTerminalsCsv(store: Store, csv: string, opts: ImportOptions): Promise<ImportReport> {
  const report: ImportReport = { total: 0, created: 0, unchanged: 0, failed: 0, errors: [], generated: [] };
  let records;
  try {
    records = parseCsv(csv);
  } catch (err) {
    report.errors.push({ line: 0, message: (err as Error).message });
    report.failed = 1;
    return report;
  }
  const header = records.shift();
  const cols = header?.fields.map((f) => f.trim().toLowerCase()) ?? [];
  const col = { idc: cols.indexOf('idc'), key: cols.indexOf('key'), sip: cols.indexOf('sip_password') };
  const unknown = cols.filter((c) => !['idc', 'key', 'sip_password'].includes(c));
  if (col.idc < 0 || unknown.length) {
    report.errors.push({ line: header?.line ?? 1, message: `header must be idc,key,sip_password (key and sip_password optional)${unknown.length ? `; unknown column ${unknown.join(', ')}` : ''}` });
    report.failed = 1;
    return report;
  }
  report.total = records.length;
  let done = 0;
  for (const rec of records) {
    const idc = rec.fields[col.idc]?.trim() ?? '';
    const keyHex = col.key >= 0 ? (rec.fields[col.key]?.trim() ?? '') : '';
    const sip = col.sip >= 0 ? (rec.fields[col.sip] ?? '') : '';
    const fail = (message: string) => {
      report.failed++;
      report.errors.push({ line: rec.line, idc: idc || undefined, message });
    };
    const problem =
      (rec.fields.length !== cols.length ? `expected ${cols.length} fields, found ${rec.fields.length}` : undefined) ??
      identityProblem(idc) ??
      (keyHex ? keyProblem(keyHex) : undefined) ??
      (sip ? sipPasswordProblem(sip) : undefined);
    if (problem) fail(problem);
    else {
      try {
        const outcome = await importOne(store, idc, keyHex, sip, opts, report);
        if (outcome === 'created') report.created++;
        else if (outcome === 'unchanged') report.unchanged++;
        else fail(outcome.error);
      } catch (err) {
        fail(err instanceof DuplicateError ? 'created concurrently by someone else' : 'storage error');
      }
    }
    done++;
    opts.onProgress?.(done, report.total);
  }
  return report;
}

/**
 * The identities of the rows that would get a generated key (no key column,
 * or an empty key), so that a caller can refuse before importing when it has
 * nowhere to keep them. Rows the import would refuse anyway are left out.
 */
export function keylessRows(csv: string): string[] {
  let records;
  try {
    records = parseCsv(csv);
  } catch {
    return [];
  }
  const cols = records.shift()?.fields.map((f) => f.trim().toLowerCase()) ?? [];
  const idcCol = cols.indexOf('idc');
  const keyCol = cols.indexOf('key');
  if (idcCol < 0) return [];
  return records
    .filter((r) => r.fields.length === cols.length && (keyCol < 0 || !r.fields[keyCol]?.trim()))
    .map((r) => r.fields[idcCol]?.trim() ?? '')
    .filter((idc) => !identityProblem(idc));
}

type Outcome = 'created' | 'unchanged' | { error: string };

async function importOne(store: Store, idc: string, keyHex: string, sip: string, opts: ImportOptions, report: ImportReport): Promise<Outcome> {
  const existing = await store.terminals.key(idc);
  if (existing) {
    if (keyHex && !timingSafeEqual(Buffer.from(keyHex, 'hex'), existing.key)) {
      return { error: 'terminal exists with a different key; rotate it instead' };
    }
    if (sip && (await store.terminals.sipPassword(idc)) !== sip) return { error: 'terminal exists with a different SIP password' };
    return 'unchanged';
  }
  const key = keyHex ? Buffer.from(keyHex, 'hex') : randomBytes(32);
  if (!keyHex && opts.keepKey) {
    // The key is kept before the terminal exists: a crash between the two leaves a spare key, never a terminal without one.
    try {
      await opts.keepKey({ idc, key: key.toString('hex') });
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  await store.terminals.create(idc, key, sip || undefined);
  await store.audit.add(opts.actor, 'terminal.create', idc, { source: 'import', keyGenerated: !keyHex, sipPassword: Boolean(sip) });
  crashPoint('import:created');
  if (!keyHex) report.generated.push({ idc, key: key.toString('hex') });
  return 'created';
}
