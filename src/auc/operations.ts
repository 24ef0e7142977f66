/**
 * What operators see and steer (docs/operations.md): live registrations,
 * failures and lockouts, the SBCs' blocks and failures per source, the audit
 * log. One implementation for the API and the CLI, so that both answer the
 * same JSON. Roles in the same process (`keyswitch up`) are reached through
 * `live`; SBCs run apart through the shared store.
 */
import { isIP } from 'node:net';
import type { LiveRoles } from '../control/live-roles.js';
import type { AuditEntry, AuditFilter } from '../store/audit.js';
import type { FailureState } from '../store/failures.js';
import type { Principal, Store } from '../store/index.js';
import type { RegistrationFilter, Registration } from '../store/registrations.js';
import type { Page } from '../store/rows.js';
import type { SourceBlock, SourceFailureRecord } from '../store/sbc-state.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const secondsLeft = (until: number, now: number): number => Math.max(0, Math.ceil((until - now) / 1000));

/** The mechanism column is '' for SIP Digest (and registrations without KS1): operators read 'digest'. */
export const DIGEST = 'digest';

export interface RegistrationView {
  idc: string;
  protocol: string;
  /** The SBC it came through (IDsp); the softswitch's own identity when it came straight. */
  idsp: string;
  contact: string;
  mechanism: string;
  /** The terminal's address as the SBC or softswitch saw it (IPc). */
  source: string;
  registeredAt: string;
  updatedAt: string;
  expiresAt: string;
  expiresInSeconds: number;
}

export interface FailureView {
  idc: string;
  /** Failures counted in the current window. */
  failures: number;
  windowStart: string;
  /** Lockouts so far (each doubles the next one's length). */
  lockouts: number;
  locked: boolean;
  lockedUntil: string | null;
  retryAfterSeconds: number;
  lastFailureAt: string;
}

export interface PrincipalView {
  id: string;
  /** 'locked' (terminals): active, but locked out by failures until `lockedUntil`. */
  status: 'active' | 'disabled' | 'locked';
  keyGeneration: number;
  hasSipPassword: boolean;
  createdAt: string;
  updatedAt: string;
  /** Terminals: failures counted in the current window. */
  failures?: number;
  /** Terminals, while locked. */
  lockedUntil?: string;
  key?: string;
}

export interface BlockView {
  source: string;
  idsp: string;
  reason: string;
  failures: number;
  windowMs: number;
  blockedAt: string;
  expiresAt: string;
  expiresInSeconds: number;
}

export interface SourceFailureView {
  source: string;
  idsp: string;
  total: number;
  byKind: Record<string, number>;
  first: string;
  last: string;
  blocked: boolean;
}

export interface DeregisterResult {
  idc: string;
  /** Registration rows removed at the AuC. */
  registrations: number;
  /** SIP bindings removed from the location store. */
  bindings: number;
  /**
   * The SBC session: 'dropped' by the SBC in this process; 'requested' of SBCs
   * run apart (they drop it within their poll interval); 'kept' when the IDc
   * still has other registrations.
   */
  sbcSession: 'dropped' | 'requested' | 'kept';
}

export interface UnblockResult {
  source: string;
  /** A block of this source was known (in this process or in the store) and is lifted. */
  lifted: boolean;
  /** The SBCs (IDsp) whose known blocks were lifted; every SBC is asked either way. */
  idsps: string[];
}

export function registrationView(r: Registration, now: number): RegistrationView {
  return {
    idc: r.idc,
    protocol: r.protocol,
    idsp: r.idsp,
    contact: r.contact,
    mechanism: r.mechanism || DIGEST,
    source: r.ipc,
    registeredAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    expiresAt: iso(r.expiresAt),
    expiresInSeconds: secondsLeft(r.expiresAt, now),
  };
}

export function failureView(s: FailureState & { updatedAt: number }, now: number): FailureView {
  const locked = s.lockedUntil > now;
  return {
    idc: s.idc,
    failures: s.count,
    windowStart: iso(s.windowStart),
    lockouts: s.lockouts,
    locked,
    lockedUntil: locked ? iso(s.lockedUntil) : null,
    retryAfterSeconds: locked ? secondsLeft(s.lockedUntil, now) : 0,
    lastFailureAt: iso(s.updatedAt),
  };
}

/** A terminal or proxy as operators see it; a terminal's failure record makes it 'locked' while it lasts. */
export function principalView(p: Principal, opts: { key?: Buffer; failure?: FailureState | null; now: number }): PrincipalView {
  const f = opts.failure;
  const locked = f !== undefined && f !== null && f.lockedUntil > opts.now;
  return {
    id: p.id,
    status: p.status === 'active' && locked ? 'locked' : p.status,
    keyGeneration: p.keyGeneration,
    hasSipPassword: p.hasSipPassword,
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
    ...(f !== undefined ? { failures: f?.count ?? 0 } : {}),
    ...(locked ? { lockedUntil: iso(f!.lockedUntil) } : {}),
    ...(opts.key ? { key: opts.key.toString('hex') } : {}),
  };
}

function blockView(b: SourceBlock, now: number): BlockView {
  return {
    source: b.source,
    idsp: b.idsp,
    reason: b.reason,
    failures: b.failures,
    windowMs: b.windowMs,
    blockedAt: iso(b.blockedAt),
    expiresAt: iso(b.expiresAt),
    expiresInSeconds: secondsLeft(b.expiresAt, now),
  };
}

/** A page over `first` (in memory) followed by a store query. */
async function concatPages<T>(first: T[], offset: number, limit: number, rest: (offset: number, limit: number) => Promise<Page<T>>): Promise<Page<T>> {
  const head = first.slice(offset, offset + limit);
  const restOffset = Math.max(0, offset - first.length);
  const page = await rest(restOffset, Math.max(1, limit - head.length));
  const items = head.length >= limit ? head : [...head, ...page.items.slice(0, limit - head.length)];
  return { items, total: first.length + page.total, offset, limit };
}

export function sourceProblem(source: string): string | undefined {
  if (isIP(source)) return undefined;
  // the intrusion detection's blocks (docs/ids.md): a flow, or an identity
  const flow = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(source);
  if (flow && isIP(flow[1] ?? flow[2] ?? '') && Number(flow[3]) <= 65535) return undefined;
  if (/^id:[^\s\x00-\x1f]{1,256}$/.test(source)) return undefined;
  return `${JSON.stringify(source)} is not an IPv4 or IPv6 address, a flow (address:port, [v6]:port) or id:<identity>`;
}

export class Operations {
  constructor(private readonly store: Store, private readonly live: LiveRoles = {}) {}

  get now(): number {
    return this.store.now();
  }

  async registrations(filter: RegistrationFilter, offset: number, limit: number): Promise<Page<RegistrationView>> {
    const f = { ...filter };
    if (f.mechanism === DIGEST) f.mechanism = '';
    const page = await this.store.registrations.list(f, offset, limit);
    const now = this.now;
    return { ...page, items: page.items.map((r) => registrationView(r, now)) };
  }

  /**
   * Removes an IDc's registrations (all, or of one protocol and/or contact):
   * the AuC's rows, the SIP bindings, and, once none is left, its SBC session.
   * Undefined when there was nothing to remove.
   */
  async deregister(idc: string, by: { protocol?: string; contact?: string }, actor: string): Promise<DeregisterResult | undefined> {
    const s = this.store;
    const registrations = await s.registrations.removeWhere(idc, by.protocol, by.contact);
    const bindings = by.protocol === undefined || by.protocol === 'sip' ? (await s.bindings.removeAll(idc, by.contact)).length : 0;
    if (registrations === 0 && bindings === 0) return undefined;
    let sbcSession: DeregisterResult['sbcSession'] = 'kept';
    if ((await s.registrations.forTerminal(idc)).length === 0) {
      const now = this.now;
      const sbc = this.live.sbc;
      sbcSession = (await sbc?.dropSession(idc, now)) ? 'dropped' : 'requested';
      // SBCs run apart drop it on their next poll; the one in this process has (origin).
      await s.sbcState.addAction('drop-session', idc, sbc?.instance ?? '');
    }
    const result: DeregisterResult = { idc, registrations, bindings, sbcSession };
    await s.audit.add(actor, 'registration.deregister', idc, { ...(by.protocol ? { protocol: by.protocol } : {}), ...(by.contact ? { contact: by.contact } : {}), registrations, bindings, sbcSession });
    return result;
  }

  async failures(filter: { locked?: boolean; prefix?: string }, offset: number, limit: number): Promise<Page<FailureView>> {
    const page = await this.store.failures.list(filter, offset, limit);
    const now = this.now;
    return { ...page, items: page.items.map((f) => failureView(f, now)) };
  }

  async terminal(id: string): Promise<PrincipalView | undefined> {
    const p = await this.store.terminals.get(id);
    if (!p) return undefined;
    return principalView(p, { failure: (await this.store.failures.get(id)) ?? null, now: this.now });
  }

  /** Terminal views for a page of principals, with their lock state. */
  async terminalViews(items: Principal[]): Promise<PrincipalView[]> {
    const failures = await this.store.failures.getMany(items.map((p) => p.id));
    const now = this.now;
    return items.map((p) => principalView(p, { failure: failures.get(p.id) ?? null, now }));
  }

  /** Clears an IDc's lockout and failure count (what it was is in the audit log); undefined for a terminal that does not exist. */
  async unlock(idc: string, actor: string): Promise<{ terminal: PrincipalView; was: { locked: boolean; failures: number; lockouts: number } } | undefined> {
    const p = await this.store.terminals.get(idc);
    if (!p) return undefined;
    const record = await this.store.failures.take(idc);
    const now = this.now;
    const was = { locked: Boolean(record && record.lockedUntil > now), failures: record?.count ?? 0, lockouts: record?.lockouts ?? 0 };
    await this.store.audit.add(actor, 'terminal.unlock', idc, { wasLocked: was.locked, failures: was.failures, lockouts: was.lockouts });
    return { terminal: principalView(p, { failure: null, now }), was };
  }

  async blocked(offset: number, limit: number): Promise<Page<BlockView>> {
    const sbc = this.live.sbc;
    const now = this.now;
    const page = await concatPages((await sbc?.blocks()) ?? [], offset, limit, (o, l) => this.store.sbcState.blocks(o, l, sbc ? { except: sbc.instance } : {}));
    return { ...page, items: page.items.map((b) => blockView(b, now)) };
  }

  async unblock(source: string, actor: string): Promise<UnblockResult> {
    const sbc = this.live.sbc;
    const here = (await sbc?.unblock(source)) ?? false;
    const stored = await this.store.sbcState.liftBlocks(source);
    await this.store.sbcState.addAction('unblock', source, sbc?.instance ?? '');
    const idsps = [...new Set([...(here ? [sbc!.idsp] : []), ...stored])].sort();
    const result: UnblockResult = { source, lifted: idsps.length > 0, idsps };
    await this.store.audit.add(actor, 'sbc.unblock', source, { lifted: result.lifted, idsps });
    return result;
  }

  async sourceFailures(offset: number, limit: number): Promise<Page<SourceFailureView>> {
    const sbc = this.live.sbc;
    // The in-process SBC's live counts (bounded as its snapshot is), then the snapshots of SBCs run apart.
    const here = (await sbc?.sourceFailures(200)) ?? [];
    const page = await concatPages<SourceFailureRecord>(here, offset, limit, (o, l) => this.store.sbcState.sourceFailures(o, l, sbc ? { except: sbc.instance } : {}));
    const blocked = new Set([...((await sbc?.blocks()) ?? []).map((b) => `${b.idsp}|${b.source}`)]);
    for (const b of (await this.store.sbcState.blocks(0, 1000, sbc ? { except: sbc.instance } : {})).items) blocked.add(`${b.idsp}|${b.source}`);
    return {
      ...page,
      items: page.items.map((f) => ({ source: f.source, idsp: f.idsp, total: f.total, byKind: f.byKind, first: iso(f.first), last: iso(f.last), blocked: blocked.has(`${f.idsp}|${f.source}`) })),
    };
  }

  async audit(filter: AuditFilter, offset: number, limit: number): Promise<Page<AuditEntry & { time: string }>> {
    const page = await this.store.audit.list(offset, limit, filter);
    return { ...page, items: page.items.map((e) => ({ ...e, time: iso(e.at) })) };
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A time bound given by an operator: an ISO 8601 date (midnight UTC) or
 * date-time with its zone (Z or ±hh:mm: a time without one would mean
 * whatever zone the server runs in). Unix ms, or a problem to show.
 */
export function parseTimeBound(text: string, name: string): { ok: true; ms: number } | { ok: false; problem: string } {
  const ms = ISO_TIME.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) return { ok: false, problem: `${name} must be an ISO 8601 date (2026-05-01) or date-time with its zone (2026-05-01T12:00:00Z), not ${JSON.stringify(text)}` };
  return { ok: true, ms };
}
