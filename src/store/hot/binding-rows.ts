import { storedBinding, type NewBinding, type SipBinding } from '../records.js';
import { num } from '../rows.js';

/** The columns a binding is read with, `id` last (it orders equal q). */
export const BINDING_COLUMNS = 'aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at, id';

export interface StoredBinding {
  b: SipBinding;
  id: number;
}

export function bindingOf(r: Record<string, unknown>): StoredBinding {
  const b: SipBinding = {
    aor: String(r.aor),
    contact: String(r.contact),
    q: num(r.q_milli) / 1000,
    expiresAt: num(r.expires_at),
    callId: String(r.call_id),
    cseq: num(r.cseq),
    source: String(r.source),
    idsp: String(r.idsp),
    mechanism: String(r.mechanism),
    instance: String(r.instance),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
  if (r.reg_id !== null && r.reg_id !== undefined) b.regId = num(r.reg_id);
  return { b, id: num(r.id) };
}

/** The same from a row read as an array (SQLite's raw mode), columns in BINDING_COLUMNS order: no object per row to build and walk. */
export function bindingOfArray(r: unknown[]): StoredBinding {
  const b: SipBinding = {
    aor: String(r[0]),
    contact: String(r[1]),
    q: num(r[2]) / 1000,
    expiresAt: num(r[3]),
    callId: String(r[4]),
    cseq: num(r[5]),
    source: String(r[6]),
    idsp: String(r[7]),
    mechanism: String(r[8]),
    instance: String(r[9]),
    createdAt: num(r[11]),
    updatedAt: num(r[12]),
  };
  if (r[10] !== null && r[10] !== undefined) b.regId = num(r[10]);
  return { b, id: num(r[13]) };
}

/** Parameters of the binding upsert, in the order both engines' statements take them. */
export function upsertParams(b: NewBinding, now: number): unknown[] {
  return [b.aor, b.contact, Math.round(b.q * 1000), b.expiresAt, b.callId, b.cseq, b.source, b.idsp, b.mechanism, b.instance, b.regId ?? null, now, now];
}

/** A change as committed; a put carries its row's id and creation time as the upsert returned them. */
export type AppliedChange = { op: 'remove'; contact: string } | { op: 'put'; b: NewBinding; id: number; createdAt: number };

/**
 * The AoR's bindings after a committed change, from the rows read before it
 * and the changes applied in order, ordered as a read would order them: no
 * second read in the transaction.
 */
export function afterChange(live: StoredBinding[], changes: AppliedChange[], now: number): SipBinding[] {
  // a refresh or a first registration (one contact put, no other binding): no map, sort or copies
  const only = changes.length === 1 ? changes[0]! : undefined;
  if (only?.op === 'put' && (live.length === 0 || (live.length === 1 && live[0]!.b.contact === only.b.contact))) {
    const b = putBinding(only, now);
    return b.expiresAt > now ? [b] : [];
  }
  const byContact = new Map<string, StoredBinding>();
  for (const s of live) byContact.set(s.b.contact, s);
  for (const c of changes) {
    if (c.op === 'remove') {
      byContact.delete(c.contact);
      continue;
    }
    byContact.set(c.b.contact, { b: putBinding(c, now), id: c.id });
  }
  return [...byContact.values()]
    .filter((s) => s.b.expiresAt > now)
    .sort((x, y) => Math.round(y.b.q * 1000) - Math.round(x.b.q * 1000) || x.id - y.id)
    .map((s) => s.b);
}

function putBinding(c: Extract<AppliedChange, { op: 'put' }>, now: number): SipBinding {
  return storedBinding(c.b, c.createdAt, now);
}
