import type { NewBinding, SipBinding } from '../records.js';
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
  const byContact = new Map<string, StoredBinding>();
  for (const s of live) byContact.set(s.b.contact, s);
  for (const c of changes) {
    if (c.op === 'remove') {
      byContact.delete(c.contact);
      continue;
    }
    const b: SipBinding = { ...c.b, createdAt: c.createdAt, updatedAt: now };
    if (c.b.regId === undefined) delete b.regId;
    byContact.set(c.b.contact, { b, id: c.id });
  }
  return [...byContact.values()]
    .filter((s) => s.b.expiresAt > now)
    .sort((x, y) => Math.round(y.b.q * 1000) - Math.round(x.b.q * 1000) || x.id - y.id)
    .map((s) => s.b);
}
