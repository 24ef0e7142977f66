/**
 * The statements a registration or an in-dialog request runs, apart from
 * knex: prepared once per connection (better-sqlite3 statements; named
 * PostgreSQL statements), parameters always bound. knex keeps migrations and
 * the operator queries (lists, filters, paging), where its per-query cost
 * does not matter. docs/performance.md, "Store hot path".
 */
import type { BindingDecision, FailureState, SipBinding } from '../records.js';

export interface KeyRow {
  keyEnc: string;
  status: string;
}

/**
 * What a Digest answer reads, in one statement: the terminal's status and
 * sealed SIP password (null when none; `terminal` undefined when there is no
 * such terminal) and its failure record, if any. Both tables are probed for
 * every IDc, provisioned or not, so that the read costs the same for both.
 */
export interface DigestRow {
  terminal?: { status: string; sipSecretEnc: string | null };
  failure?: FailureState;
}

/**
 * What a KS1 vector reads of its terminal, in one statement: the sealed
 * long-term key and status (`terminal` undefined when there is no such
 * terminal) and its failure record, if any. Both tables are probed for every
 * IDc, provisioned or not, as for DigestRow.
 */
export interface VectorRow {
  terminal?: KeyRow;
  failure?: FailureState;
}

export interface RegistrationRow {
  idc: string;
  idsp: string;
  ipc: string;
  protocol: string;
  contact: string;
  mechanism: string;
  expiresAt: number;
}

export interface BindingUpdate<T> {
  committed: boolean;
  result: T;
  live: SipBinding[];
  removed: SipBinding[];
}

export interface HotStore {
  /** The sealed long-term key and status of a terminal (`terminals`) or proxy (`proxies`). */
  key(table: 'terminals' | 'proxies', id: string): Promise<KeyRow | undefined>;
  /** The sealed SIP password of a terminal: null when it has none, undefined when there is no such terminal. */
  sipSecret(idc: string): Promise<string | null | undefined>;
  /** A terminal's status, sealed SIP password and failure record in one read, for a Digest answer. */
  digestRow(idc: string): Promise<DigestRow>;
  /** A terminal's sealed key, status and failure record in one read, for a KS1 vector. */
  vectorRow(idc: string): Promise<VectorRow>;
  failure(idc: string): Promise<FailureState | undefined>;
  putFailure(s: FailureState, now: number): Promise<void>;
  clearFailure(idc: string): Promise<void>;
  /**
   * Upserts the AuC's registration record and, when `clearFailure`, deletes
   * the IDc's failure record, in one transaction. Resolves once committed.
   */
  recordRegistration(r: RegistrationRow, now: number, clearFailure: boolean): Promise<void>;
  /** Deletes the IDc's registration records from this IDsp (of one protocol and/or contact when given); resolves to how many, once committed. */
  removeRegistration(idc: string, idsp: string, protocol?: string, contact?: string): Promise<number>;
  /** Live bindings of an AoR, highest q first, then oldest first. */
  bindings(aor: string, now: number): Promise<SipBinding[]>;
  /**
   * Reads the AoR's live bindings, lets `decide` choose the changes and
   * commits them all or none (RFC 3261 §10.3 step 8); `live` is the AoR's
   * bindings after the change, computed from that one read.
   */
  updateBindings<T>(aor: string, now: number, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<BindingUpdate<T>>;
  /** Deletes up to `limit` bindings expired at `now` and returns them. */
  takeExpiredBindings(now: number, limit: number): Promise<SipBinding[]>;
  /** Commits what is queued and closes the connection(s). */
  close(): Promise<void>;
}
