/** Rows of the AuC's hot reads (failure records, the Digest answer's read) as both engines return them. */
import type { FailureState } from '../records.js';
import { num } from '../rows.js';
import type { DigestRow, VectorRow } from './types.js';

export function failureOf(r: Record<string, unknown>, idc: unknown): FailureState {
  return { idc: String(idc), count: num(r.count), windowStart: num(r.window_start), lockouts: num(r.lockouts), lockedUntil: num(r.locked_until) };
}

/** The digestRow statement's one row: terminal columns null when there is no such terminal, failure columns (f_idc) null when no record. */
export function digestRowOf(r: Record<string, unknown>): DigestRow {
  const out: DigestRow = {};
  if (r.status !== null && r.status !== undefined) out.terminal = { status: String(r.status), sipSecretEnc: (r.sip_secret_enc as string | null) ?? null };
  if (r.f_idc !== null && r.f_idc !== undefined) out.failure = failureOf(r, r.f_idc);
  return out;
}

/** The vectorRow statement's one row: key columns null when there is no such terminal, failure columns (f_idc) null when no record. */
export function vectorRowOf(r: Record<string, unknown>): VectorRow {
  const out: VectorRow = {};
  if (r.key_enc !== null && r.key_enc !== undefined) out.terminal = { keyEnc: String(r.key_enc), status: String(r.status) };
  if (r.f_idc !== null && r.f_idc !== undefined) out.failure = failureOf(r, r.f_idc);
  return out;
}

/**
 * The same rows as arrays (better-sqlite3's raw mode: no object with seven named properties per read),
 * columns in the statements' order: two of the terminal, then f_idc, count, window_start, lockouts, locked_until.
 */
function failureOfRaw(r: unknown[]): FailureState | undefined {
  return r[2] === null || r[2] === undefined ? undefined : { idc: String(r[2]), count: num(r[3]), windowStart: num(r[4]), lockouts: num(r[5]), lockedUntil: num(r[6]) };
}

export function digestRowOfRaw(r: unknown[]): DigestRow {
  const out: DigestRow = {};
  if (r[0] !== null && r[0] !== undefined) out.terminal = { status: String(r[0]), sipSecretEnc: (r[1] as string | null) ?? null };
  const f = failureOfRaw(r);
  if (f) out.failure = f;
  return out;
}

export function vectorRowOfRaw(r: unknown[]): VectorRow {
  const out: VectorRow = {};
  if (r[0] !== null && r[0] !== undefined) out.terminal = { keyEnc: String(r[0]), status: String(r[1]) };
  const f = failureOfRaw(r);
  if (f) out.failure = f;
  return out;
}
