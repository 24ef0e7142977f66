/**
 * The registrar's binding rules (RFC 3261 §10.3 steps 6-8), apart from
 * authentication and from the wire: the SIP adapter parses the REGISTER into
 * a RegisterInput, authenticates, and calls `plan` (pure) then `apply`
 * (one transaction on the location store).
 */
import { formatUri, isSipUri, isStar, unquote, type ContactStar, type NameAddr, type Uri } from '../sip/index.js';
import type { BindingChange, LocationStore, NewBinding, SipBinding } from '../store/bindings.js';

export interface ExpiresPolicy {
  /** Below this (and above 0) a registration gets 423 with Min-Expires. */
  min: number;
  /** Longer requests are shortened to this. */
  max: number;
  /** When neither the contact's `expires` nor an Expires header says. */
  default: number;
}

export const DEFAULT_EXPIRES: ExpiresPolicy = { min: 60, max: 7200, default: 3600 };

/** One Contact of the REGISTER, as the registrar needs it. */
export interface ContactRequest {
  /** Normalised URI: the comparison key and what the 200 lists. */
  uri: string;
  /** Seconds from the contact's `expires` parameter or the Expires header or the default, capped at max. */
  expires: number;
  q: number;
  instance: string;
  regId?: number;
}

export interface RegisterInput {
  aor: string;
  callId: string;
  cseq: number;
  /** Undefined: a query (no Contact). */
  contacts: NameAddr[] | 'star' | undefined;
  /** The Expires header, if any. */
  expires: number | undefined;
  /** `udp:192.0.2.10:5060` as received. */
  source: string;
  idsp: string;
  mechanism: string;
}

export type RegisterPlan =
  | { kind: 'query'; aor: string }
  | { kind: 'remove-all'; aor: string; callId: string; cseq: number }
  | { kind: 'update'; aor: string; callId: string; cseq: number; contacts: ContactRequest[]; source: string; idsp: string; mechanism: string };

export type PlanResult =
  | { ok: true; plan: RegisterPlan }
  | { ok: false; status: 400; reason: string }
  | { ok: false; status: 423; minExpires: number };

export type ApplyResult =
  | {
      ok: true;
      live: SipBinding[];
      added: SipBinding[];
      removed: SipBinding[];
      /** The AoR's live bindings before the change (what the store handed `decide`). */
      before: readonly SipBinding[];
    }
  | { ok: false; status: 500; reason: 'out-of-order' };

const MAX_CONTACTS = 32;
const DELTA = /^[0-9]{1,10}$/;
const QVALUE = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * RFC 3261 §19.1.4 compares SIP URIs component-wise: scheme and host
 * case-insensitively, user and password exactly, parameters by name
 * case-insensitively. Writing them in one canonical form (lower-case
 * scheme/host/parameter names, parameters sorted) turns that into string
 * equality, which the store's unique (aor, contact) can enforce.
 */
export function normaliseContactUri(u: Uri): string {
  if (!isSipUri(u)) return formatUri(u);
  const params = Object.create(null) as Record<string, string | null>;
  for (const k of Object.keys(u.params).sort()) params[k.toLowerCase()] = u.params[k] ?? null;
  const n = { ...u, host: u.host.toLowerCase(), params };
  return formatUri(n);
}

function deltaParam(v: string | null | undefined): number | undefined | 'bad' {
  if (v === undefined) return undefined;
  if (v === null || !DELTA.test(v)) return 'bad';
  return Math.min(Number(v), 4294967295);
}

export class Registrar {
  constructor(private readonly repo: LocationStore, readonly policy: ExpiresPolicy, readonly now: () => number) {
    if (!(policy.min >= 0 && policy.max >= policy.min && policy.default >= policy.min && policy.default <= policy.max)) {
      throw new RangeError('expires policy needs 0 <= min <= default <= max');
    }
  }

  /** Steps 6-7 without touching the store: 400 for a malformed or mixed `*`, 423 for too short. */
  plan(r: RegisterInput): PlanResult {
    if (r.contacts === undefined) return { ok: true, plan: { kind: 'query', aor: r.aor } };
    if (r.contacts === 'star') {
      if (r.expires !== 0) return { ok: false, status: 400, reason: 'Contact: * needs Expires: 0' };
      return { ok: true, plan: { kind: 'remove-all', aor: r.aor, callId: r.callId, cseq: r.cseq } };
    }
    if (r.contacts.length > MAX_CONTACTS) return { ok: false, status: 400, reason: 'too many contacts' };
    const out: ContactRequest[] = [];
    let tooBrief = false;
    for (const c of r.contacts) {
      if (!isSipUri(c.uri)) return { ok: false, status: 400, reason: 'Contact is not a SIP URI' };
      const p = deltaParam(c.params.expires);
      if (p === 'bad') return { ok: false, status: 400, reason: 'bad Contact expires' };
      let expires = p ?? r.expires ?? this.policy.default;
      if (expires > 0 && expires < this.policy.min) tooBrief = true;
      expires = Math.min(expires, this.policy.max);
      const qText = c.params.q;
      if (qText !== undefined && (qText === null || !QVALUE.test(qText))) return { ok: false, status: 400, reason: 'bad Contact q' };
      const regIdText = c.params['reg-id'];
      if (regIdText !== undefined && (regIdText === null || !/^[0-9]{1,9}$/.test(regIdText))) return { ok: false, status: 400, reason: 'bad Contact reg-id' };
      const instance = c.params['+sip.instance'];
      const cr: ContactRequest = {
        uri: normaliseContactUri(c.uri),
        expires,
        q: qText === undefined ? 1 : Number(qText),
        instance: instance ? (unquote(instance) ?? '') : '',
      };
      if (regIdText !== undefined) cr.regId = Number(regIdText);
      // One REGISTER naming the same contact twice: the last one counts.
      const dup = out.findIndex((x) => x.uri === cr.uri);
      if (dup >= 0) out.splice(dup, 1);
      out.push(cr);
    }
    if (tooBrief) return { ok: false, status: 423, minExpires: this.policy.min };
    return { ok: true, plan: { kind: 'update', aor: r.aor, callId: r.callId, cseq: r.cseq, contacts: out, source: r.source, idsp: r.idsp, mechanism: r.mechanism } };
  }

  /**
   * Call-ID/CSeq ordering of step 7 against the live bindings: a binding
   * with the same Call-ID and a CSeq not lower than the request's aborts
   * the whole request.
   */
  outOfOrder(plan: RegisterPlan, live: readonly SipBinding[]): boolean {
    if (plan.kind === 'query') return false;
    const touched = plan.kind === 'remove-all' ? live : live.filter((b) => plan.contacts.some((c) => c.uri === b.contact || sameInstance(c, b)));
    return touched.some((b) => b.callId === plan.callId && b.cseq >= plan.cseq);
  }

  /** Read-only check of the ordering (for flows that must know before they report to the AuC). */
  async wouldBeOutOfOrder(plan: RegisterPlan): Promise<boolean> {
    if (plan.kind === 'query') return false;
    return this.outOfOrder(plan, await this.repo.current(plan.aor));
  }

  /** Step 8: all changes or none. */
  async apply(plan: RegisterPlan): Promise<ApplyResult> {
    if (plan.kind === 'query') {
      const live = await this.repo.current(plan.aor);
      return { ok: true, live, added: [], removed: [], before: live };
    }
    const now = this.now();
    let before: readonly SipBinding[] = [];
    const r = await this.repo.update<boolean>(plan.aor, (live) => {
      before = live;
      if (this.outOfOrder(plan, live)) return { abort: false };
      if (plan.kind === 'remove-all') return { commit: live.map((b): BindingChange => ({ op: 'remove', contact: b.contact })), result: true };
      // The same UA instance registering from a new Contact (it restarted, or moved): its old binding goes.
      const replaced: BindingChange[] = live
        .filter((b) => !plan.contacts.some((c) => c.uri === b.contact) && plan.contacts.some((c) => sameInstance(c, b)))
        .map((b) => ({ op: 'remove', contact: b.contact }));
      const commit: BindingChange[] = plan.contacts.map((c): BindingChange => {
        if (c.expires === 0) return { op: 'remove', contact: c.uri };
        const b: NewBinding = {
          aor: plan.aor,
          contact: c.uri,
          q: c.q,
          expiresAt: now + c.expires * 1000,
          callId: plan.callId,
          cseq: plan.cseq,
          source: plan.source,
          idsp: plan.idsp,
          mechanism: plan.mechanism,
          instance: c.instance,
        };
        if (c.regId !== undefined) b.regId = c.regId;
        return { op: 'put', binding: b };
      });
      return { commit: [...replaced, ...commit], result: true };
    });
    if (!r.committed) return { ok: false, status: 500, reason: 'out-of-order' };
    const added = plan.kind === 'update' ? r.live.filter((b) => plan.contacts.some((c) => c.uri === b.contact && c.expires > 0)) : [];
    return { ok: true, live: r.live, added, removed: r.removed, before };
  }

  current(aor: string): Promise<SipBinding[]> {
    return this.repo.current(aor);
  }

  /** The 200's Contact values: every live binding with its remaining seconds. */
  contactHeaders(live: readonly SipBinding[]): string[] {
    const now = this.now();
    return live.map((b) => {
      let v = '<' + b.contact + '>;expires=' + Math.max(0, Math.ceil((b.expiresAt - now) / 1000));
      if (b.q !== 1) v += ';q=' + String(b.q);
      if (b.instance) v += ';+sip.instance="' + b.instance.replace(/["\\]/g, '') + '"';
      if (b.regId !== undefined) v += ';reg-id=' + b.regId;
      return v;
    });
  }
}

/**
 * One binding per UA instance: RFC 5626 §6 keys a binding on the instance ID
 * and reg-id when both are given. We apply the same rule to an instance ID
 * without reg-id (our decision, docs/softswitch-calls.md): it names one
 * device, so its newer Contact replaces the older whatever the URIs.
 */
function sameInstance(c: ContactRequest, b: SipBinding): boolean {
  return c.instance !== '' && c.instance === b.instance && c.regId === b.regId;
}

export function contactsOf(list: Array<NameAddr | ContactStar>): NameAddr[] | 'star' | undefined {
  if (list.length === 0) return undefined;
  if (list.some(isStar)) return 'star';
  return list as NameAddr[];
}
