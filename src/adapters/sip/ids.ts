/**
 * SIP ↔ intrusion detection (docs/ids.md): a SIP message as a neutral
 * `IdsEvent`, and the answers the SBC sends back read as authentication
 * outcomes.
 *
 * Outcomes: a request that carried credentials (Digest or KS1 `response`,
 * a KS-HMAC tag) is remembered, bounded, by flow; the final answer that goes
 * back to that flow for the same CSeq says how it went: 2xx a success; 401 or
 * 407 (not stale) or 403 a failure. A challenge to a request without
 * credentials is nothing at all.
 */
import { dropOldest } from '../../lib/map-eviction.js';
import type { Destination, MessageSource, ParseResult, SipRequest } from '../../sip/index.js';
import type { AuthMechanism, IdsEvent, IdsOutcome, Verdict } from '../../ids/types.js';

/** The part of the engine the adapter needs. */
export interface IdsSink {
  inspect(ev: IdsEvent): import('../../ids/types.js').Verdict;
  outcome(o: IdsOutcome): void;
  isBlocked(address: string, port: number, identity?: string): boolean;
  /** True when this flow authenticated successfully lately. */
  goodFlow(address: string, port: number): boolean;
}

const AOR = /<?\s*sips?:([^;>?\s]+)/i;
const USERNAME = /username\s*=\s*"([^"]*)"|username\s*=\s*([^\s,]+)/i;
const RESPONSE = /(^|[\s,])response\s*=/i;
/** How long a credentialed request is taken to be in flight at most (Timer F, 64·T1). */
const OUTSTANDING_MS = 32_000;
const THROTTLED: Verdict = Object.freeze({ kind: 'drop', rule: 'guessing throttle', reason: 'an answer to this flow or identity is pending' }) as Verdict;
const IN_DIALOG = new Set(['BYE', 'INVITE', 'UPDATE', 'CANCEL', 'INFO']);
const TO_TAG = /;\s*tag\s*=/i;
const CSEQ = /\r\n(?:cseq)\s*:\s*(\d{1,10})\s+([A-Za-z]+)/i;

export function aorOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = AOR.exec(header);
  return m ? m[1] : undefined;
}

interface Pending {
  cseq: string;
  /** A retransmission has the same Call-ID and CSeq; another guess (svcrack: a new Call-ID, CSeq 2 each time) does not. */
  callId: string;
  identity: string | undefined;
  mechanism: AuthMechanism;
  method: string;
  at: number;
}

export class SipIds {
  readonly #pending = new Map<string, Pending>();
  /** The flow whose credentialed request for an identity awaits its answer. */
  readonly #byIdentity = new Map<string, { key: string; at: number }>();
  /** In-dialog requests waiting for their answer: a 403 or 481 is a dialog violation. */
  readonly #dialogs = new Map<string, { cseq: string; method: string }>();

  constructor(
    private readonly ids: IdsSink,
    private readonly max = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The verdict on one message from the untrusted side (requests inspected; a response from a blocked flow is dropped too). */
  inbound(r: ParseResult, src: MessageSource): ReturnType<IdsSink['inspect']> | undefined {
    if (!r.ok) {
      return this.ids.inspect({ protocol: 'sip', transport: src.protocol, address: src.address, port: src.port, method: '', malformed: r.error.reason });
    }
    const msg = r.message;
    if (!msg.isRequest()) return this.ids.isBlocked(src.address, src.port) ? { kind: 'drop', rule: 'blocked', reason: 'blocked flow' } : undefined;
    const req = msg as SipRequest;
    const method = req.method;
    const from = req.get('from');
    const to = req.get('to');
    const authz = req.get('authorization') ?? req.get('proxy-authorization');
    const identity = aorOf(method === 'REGISTER' ? to : from);
    const ev: IdsEvent = {
      protocol: 'sip', transport: src.protocol, address: src.address, port: src.port, method,
      identity, authenticated: src.pskIdentity, userAgent: req.get('user-agent'), from,
      fields: { uri: req.uri, from, to, authorization: authz },
    };
    const v = this.ids.inspect(ev);
    if (v.kind === 'pass') {
      if (this.#remember(req, src, authz, identity)) return THROTTLED;
      if (IN_DIALOG.has(method) && (method !== 'INVITE' || TO_TAG.test(to ?? ''))) this.#rememberDialog(req, src);
    }
    return v;
  }

  /** An answer leaving towards a terminal: a pending credentialed request's outcome. */
  outbound(data: Buffer, dest: Destination, transport: string): void {
    if ((this.#pending.size === 0 && this.#dialogs.size === 0) || data.length < 12 || data[0] !== 0x53 /* S */) return;
    const key = `${dest.address}|${dest.port}`;
    const p = this.#pending.get(key);
    const d = this.#dialogs.get(key);
    if (!p && !d) return;
    const status = Number(data.toString('latin1', 8, 11));
    if (!(status >= 200)) return;
    const head = data.toString('latin1', 0, Math.min(data.length, 4096));
    const c = CSEQ.exec(head);
    if (!c) return;
    const cseq = `${c[1]} ${c[2]!.toUpperCase()}`;
    if (d && d.cseq === cseq) {
      this.#dialogs.delete(key);
      if (status === 403 || status === 481) {
        this.ids.outcome({ kind: 'dialog-violation', protocol: 'sip', transport, address: dest.address, port: dest.port, method: d.method, reason: `${status} to ${d.method}` });
      }
    }
    if (!p || p.cseq !== cseq) return;
    this.#pending.delete(key);
    const id = p.identity?.toLowerCase();
    if (id !== undefined && this.#byIdentity.get(id)?.key === key) this.#byIdentity.delete(id);
    const base = { protocol: 'sip' as const, transport, address: dest.address, port: dest.port, identity: p.identity, mechanism: p.mechanism, method: p.method };
    if (status < 300) this.ids.outcome({ ...base, kind: 'auth-success' });
    else if ((status === 401 || status === 407) && !/stale\s*=\s*"?true/i.test(head)) this.ids.outcome({ ...base, kind: 'auth-failure', reason: `${status} to ${p.method}` });
    else if (status === 403) this.ids.outcome({ ...base, kind: 'auth-failure', reason: `403 to ${p.method}` });
  }

  /** A request the SBC refused as not sent by a party of the dialog it names. */
  dialogViolation(src: MessageSource, method: string, reason: string): void {
    this.ids.outcome({ kind: 'dialog-violation', protocol: 'sip', transport: src.protocol, address: src.address, port: src.port, method, reason });
  }

  /**
   * Remembers a credentialed request; true when it must wait (dropped: the
   * phone retransmits). One answer at a time per flow and per identity: a
   * guesser that pipelines cannot have a hundred guesses in flight when the
   * rules block it, nor push an account past the AuC's lockout.
   */
  #remember(req: SipRequest, src: MessageSource, authz: string | undefined, aor: string | undefined): boolean {
    let mechanism: AuthMechanism | undefined;
    let identity = aor;
    if (authz !== undefined && RESPONSE.test(authz)) {
      mechanism = /^\s*ks1\b/i.test(authz) ? 'ks1' : 'digest';
      // the identity is the AoR the message claims, as inspect() keys it; the username only without one
      const u = identity === undefined ? USERNAME.exec(authz) : null;
      if (u) identity = u[1] ?? u[2];
    } else if (req.has('ks-hmac')) mechanism = 'app-hmac';
    if (!mechanism) return false;
    const cseq = req.get('cseq');
    if (!cseq) return false;
    const num = /^\s*(\d{1,10})\s+([A-Za-z]+)/.exec(cseq);
    if (!num) return false;
    const key = `${src.address}|${src.port}`;
    const cs = `${num[1]} ${num[2]!.toUpperCase()}`;
    const callId = req.get('call-id') ?? '';
    const t = this.now();
    // REGISTER only: an INVITE's answer may take a call's ringing time, and a trunk places calls in parallel
    if (mechanism !== 'app-hmac' && req.method === 'REGISTER') {
      const mine = this.#pending.get(key);
      if (mine && (mine.cseq !== cs || mine.callId !== callId) && mine.mechanism !== 'app-hmac' && t - mine.at < OUTSTANDING_MS && !this.ids.goodFlow(src.address, src.port)) return true;
      const id = identity?.toLowerCase();
      const theirs = id === undefined ? undefined : this.#byIdentity.get(id);
      if (theirs && theirs.key !== key && t - theirs.at < OUTSTANDING_MS && this.#pending.get(theirs.key)?.at === theirs.at) return true;
      if (id !== undefined) {
        if (!this.#byIdentity.has(id) && this.#byIdentity.size >= this.max) dropOldest(this.#byIdentity, slice(this.max));
        this.#byIdentity.set(id, { key, at: t });
      }
    }
    if (!this.#pending.has(key) && this.#pending.size >= this.max) this.#sweep();
    this.#pending.set(key, { cseq: cs, callId, identity, mechanism, method: req.method, at: t });
    return false;
  }

  #rememberDialog(req: SipRequest, src: MessageSource): void {
    const num = /^\s*(\d{1,10})\s+([A-Za-z]+)/.exec(req.get('cseq') ?? '');
    if (!num) return;
    const key = `${src.address}|${src.port}`;
    if (!this.#dialogs.has(key) && this.#dialogs.size >= this.max) dropOldest(this.#dialogs, slice(this.max));
    this.#dialogs.set(key, { cseq: `${num[1]} ${num[2]!.toUpperCase()}`, method: req.method });
  }

  /**
   * The table is full: entries older than 64 s go from its front (insertion order, nearly age order),
   * and the oldest sixteenth goes if that freed too little. It used to scan every entry, then drop one:
   * with the table full of young entries (a flood of credentialed requests left unanswered) each new
   * flow cost a walk of the whole table.
   */
  #sweep(): void {
    const t = this.now();
    const target = this.max - slice(this.max);
    for (const [k, p] of this.#pending) {
      if (this.#pending.size <= target && t - p.at <= 64_000) break;
      this.#pending.delete(k);
    }
  }
}

/** A full table drops its oldest sixteenth at once, not one entry per insert (src/lib/map-eviction.ts says why). */
const slice = (max: number): number => Math.max(1, max >>> 4);
