/**
 * The records the store's repositories and its prepared-statement hot path
 * (src/store/hot) both speak: declared here, so that neither imports the other.
 */

/** One SIP binding of an address-of-record to a contact (RFC 3261 §10). */
export interface SipBinding {
  aor: string;
  /** The contact URI, normalised by the registrar (the comparison key). */
  contact: string;
  /** 0..1 (stored as thousandths). */
  q: number;
  expiresAt: number; // Unix ms
  callId: string;
  cseq: number;
  /** Where the REGISTER came from as received: `udp:192.0.2.10:5060`. */
  source: string;
  /** The SBC it came through; '' when registered straight at the softswitch. */
  idsp: string;
  /** KS1 mechanism chosen at registration; '' for Digest or none. */
  mechanism: string;
  /** RFC 5626 +sip.instance and reg-id, when given. */
  instance: string;
  regId?: number;
  createdAt: number;
  updatedAt: number;
}

export type NewBinding = Omit<SipBinding, 'createdAt' | 'updatedAt'>;

/**
 * A binding as stored, field by field in the order a read builds it. Not a spread and a `delete`
 * of an absent regId: `delete` turns the object into a slow dictionary-mode one, and every
 * REGISTER builds and reads these (docs/performance.md,
 * "Bindings, the SBC's wrap key, the load generator, and the load step again (session 20)").
 */
export function storedBinding(s: NewBinding, createdAt: number, updatedAt: number): SipBinding {
  const b: SipBinding = {
    aor: s.aor,
    contact: s.contact,
    q: s.q,
    expiresAt: s.expiresAt,
    callId: s.callId,
    cseq: s.cseq,
    source: s.source,
    idsp: s.idsp,
    mechanism: s.mechanism,
    instance: s.instance,
    createdAt,
    updatedAt,
  };
  if (s.regId !== undefined) b.regId = s.regId;
  return b;
}

export type BindingChange = { op: 'put'; binding: NewBinding } | { op: 'remove'; contact: string };

/** What the registrar decides, given the live bindings it read inside the transaction. */
export type BindingDecision<T> = { commit: BindingChange[]; result: T } | { abort: T };

/** Failed authentications of one IDc and its lockouts (policy: auc/lockout.ts). */
export interface FailureState {
  idc: string;
  count: number;
  windowStart: number;
  lockouts: number;
  lockedUntil: number;
}
