/**
 * The intrusion detection engine (docs/ids.md): partners, blacklist and the
 * compiled rules. Protocol-neutral: adapters give it `IdsEvent`s and
 * `IdsOutcome`s and act on the verdict.
 *
 * Not banning a NAT: a rule blocks the flow (address and port) unless it
 * names another scope. A block reaches a whole address only when the address
 * has no successful authentication on record, and either the rule's evidence
 * is of that kind (a scanner's signature, guessing with no success) or
 * several of its flows were blocked already. Flows and identities that
 * authenticated from a blocked address keep working. An identity's block
 * (guessing against it) holds only for sources that never authenticated it,
 * so its owner still gets through from a source with a good record.
 */
import { Blacklist, flowKey, identityKey } from './blacklist.js';
import { Partner, PartnerTable, type Counter } from './partners.js';
import type { CounterRef, IdsSharedPeer, IdsSharing } from './shared.js';
import type { CompiledRule, RuleSet, WhiteList } from './rules.js';
import { PASS, type BlockEntry, type BlockScope, type Detection, type IdsEvent, type IdsOutcome, type IdsProtocol, type Verdict } from './types.js';

export interface IdsOptions {
  rules: RuleSet;
  now?: () => number;
  maxFlows?: number;
  maxAddresses?: number;
  maxIdentities?: number;
  maxBlocks?: number;
  /** Partners without traffic for this long are forgotten (default 10 min). */
  idleMs?: number;
  /** How long a successful authentication counts in a source's favour (default 24 h). */
  goodRecordMs?: number;
  /** Flows of one address blocked within `escalateWindowMs` before the address is (default 3 in 10 min), when it has no good record. */
  escalateFlows?: number;
  escalateWindowMs?: number;
  /** Told of every detection (log line, metric, webhook: alerts.ts). */
  onDetection?: (d: Detection) => void;
  /** Counts and blocks shared with other instances (shared.ts); without it, this process decides alone. */
  sharing?: IdsSharing;
}

export interface RuleCount {
  name: string;
  type: string;
  protocols: string[];
  matched: number;
  fired: number;
  dropped: number;
  answered: number;
  blocked: number;
  lastFiredAt: number | undefined;
}

export interface PartnerView {
  kind: string;
  key: string;
  messages: number;
  authOk: number;
  authFailed: number;
  goodAt: number | undefined;
  created: number;
  last: number;
}

const INSPECTED = new Set(['flood', 'scan', 'injection', 'malformed', 'scanner-signature']);
const DEFAULT_SCAN_METHODS = new Set(['REGISTER', 'INVITE', 'SUBSCRIBE', 'MESSAGE', 'RSIP', 'SERVICECHANGE', 'RRQ', 'GRQ']);
/** Time-independent rules log at most once per partner in this long. */
const QUIET_MS = 10_000;

interface Plan {
  inspect: CompiledRule[];
  auth: CompiledRule[];
  dialog: CompiledRule[];
  /** Every injection pattern of the plan in one alternation: a clean message costs one test per field, whatever the rule count. */
  anyInjection: RegExp | undefined;
  anyUserAgent: RegExp | undefined;
  anyFrom: RegExp | undefined;
}

function union(res: Array<RegExp | undefined>): RegExp | undefined {
  const src = res.filter((r): r is RegExp => r !== undefined).map((r) => r.source);
  return src.length ? new RegExp(src.join('|'), 'i') : undefined;
}

export class IdsEngine implements IdsSharedPeer {
  #rules: RuleSet;
  #plans = new Map<IdsProtocol, Plan>();
  #counts = new Map<string, RuleCount>();
  readonly #now: () => number;
  readonly #flows: PartnerTable;
  readonly #addresses: PartnerTable;
  readonly #identities: PartnerTable;
  readonly #global = new Partner('global', '*', 0);
  readonly #blacklist: Blacklist;
  readonly #idleMs: number;
  readonly #goodMs: number;
  readonly #escalateFlows: number;
  readonly #escalateMs: number;
  readonly #onDetection: ((d: Detection) => void) | undefined;
  readonly #sharing: IdsSharing | undefined;
  /** Told of each new block (the SBC writes it to the store for operators). */
  readonly blockListeners = new Set<(e: BlockEntry) => void>();
  readonly totals = { inspected: 0, dropped: 0, answered: 0, blockedDrops: 0, detections: 0, blocks: 0, reloads: 0 };

  constructor(o: IdsOptions) {
    this.#now = o.now ?? Date.now;
    this.#flows = new PartnerTable('flow', o.maxFlows ?? 100_000);
    this.#addresses = new PartnerTable('address', o.maxAddresses ?? 50_000);
    this.#identities = new PartnerTable('identity', o.maxIdentities ?? 50_000);
    this.#blacklist = new Blacklist(o.maxBlocks ?? 100_000, this.#now);
    this.#idleMs = o.idleMs ?? 600_000;
    this.#goodMs = o.goodRecordMs ?? 86_400_000;
    this.#escalateFlows = o.escalateFlows ?? 3;
    this.#escalateMs = o.escalateWindowMs ?? 600_000;
    this.#onDetection = o.onDetection;
    this.#rules = o.rules;
    this.reload(o.rules);
    this.totals.reloads = 0;
    this.#sharing = o.sharing;
    o.sharing?.attach(this);
  }

  get rules(): RuleSet {
    return this.#rules;
  }

  /** Puts a new rule set in force at once (counters of partners restart; rule counts are kept by name). */
  reload(set: RuleSet): void {
    const plans = new Map<IdsProtocol, Plan>();
    for (const p of ['sip', 'mgcp', 'h248', 'h323', 'http'] as const) {
      const of = (r: CompiledRule) => !r.protocols || r.protocols.has(p);
      const inspect = set.rules.filter((r) => of(r) && INSPECTED.has(r.type));
      plans.set(p, {
        inspect,
        anyInjection: union(inspect.filter((r) => r.type === 'injection').map((r) => r.pattern)),
        anyUserAgent: union(inspect.map((r) => r.userAgent)),
        anyFrom: union(inspect.map((r) => r.from)),
        auth: set.rules.filter((r) => of(r) && r.type === 'brute-force'),
        dialog: set.rules.filter((r) => of(r) && r.type === 'dialog'),
      });
    }
    const counts = new Map<string, RuleCount>();
    for (const r of set.rules) {
      const old = this.#counts.get(r.name);
      counts.set(r.name, old && old.type === r.type ? { ...old, protocols: [...(r.protocols ?? [])] } : { name: r.name, type: r.type, protocols: [...(r.protocols ?? [])], matched: 0, fired: 0, dropped: 0, answered: 0, blocked: 0, lastFiredAt: undefined });
    }
    this.#rules = set;
    this.#plans = plans;
    this.#counts = counts;
    this.totals.reloads++;
  }

  /** The verdict on one inbound message. */
  inspect(ev: IdsEvent): Verdict {
    this.totals.inspected++;
    const t = this.#now();
    if (this.#whitelisted(this.#rules.white, ev)) return PASS;
    const fk = flowKey(ev.address, ev.port);
    const flow = this.#flows.touch(fk, t);
    flow.messages++;
    const addr = this.#addresses.touch(ev.address, t);
    addr.messages++;
    if (this.#blacklist.size > 0) {
      const v = this.#blocked(ev, fk, flow, addr, t);
      if (v) return v;
    }
    const plan = this.#plans.get(ev.protocol);
    if (!plan) return PASS;
    const injected = plan.anyInjection !== undefined && anyField(plan.anyInjection, ev);
    const signed = (plan.anyUserAgent !== undefined && ev.userAgent !== undefined && plan.anyUserAgent.test(ev.userAgent)) || (plan.anyFrom !== undefined && ev.from !== undefined && plan.anyFrom.test(ev.from));
    for (const r of plan.inspect) {
      if ((r.type === 'injection' && !injected) || (r.type === 'scanner-signature' && !signed)) continue;
      if (!this.#matches(r, ev)) continue;
      if (r.white && this.#whitelisted(r.white, ev)) continue;
      if (r.exceptGood && flow.hasGood(undefined, t, this.#goodMs)) continue;
      const count = this.#counts.get(r.name)!;
      count.matched++;
      const partner = this.#partnerFor(r, ev, flow, addr, t);
      const c = partner.counter(r, this.#rules.version);
      if (r.type === 'scan') {
        // Distinct identities that this source tried and never authenticated.
        if (ev.identity === undefined || ev.authenticated !== undefined || addr.hasGood(ev.identity.toLowerCase(), t, this.#goodMs)) continue;
        if (this.#distinct(c, r, partner, t, ev.identity.toLowerCase()) < r.number) continue;
      } else if (r.number > 0 && this.#tally(c, r, partner, t) < r.number) continue;
      const v = this.#fire(r, c, partner, ev, fk, addr, t, undefined);
      if (v !== PASS) return v;
    }
    return PASS;
  }

  /** An authentication's result or a dialog violation seen after the message went in. */
  outcome(o: IdsOutcome): void {
    const t = this.#now();
    const fk = flowKey(o.address, o.port);
    const flow = this.#flows.touch(fk, t);
    const addr = this.#addresses.touch(o.address, t);
    const id = o.identity?.toLowerCase();
    if (o.kind === 'auth-success') {
      flow.markGood(id, t);
      addr.markGood(id, t);
      // A success wipes the flow's own guessing record: it knows the secret (on every instance).
      if (this.#sharing && flow.counters.length > 0) this.#sharing.forget(sharedRefs(flow.counters));
      flow.counters = [];
      if (id) this.#identities.touch(id, t).authOk++;
      return;
    }
    const ev: IdsEvent = { protocol: o.protocol, transport: o.transport, address: o.address, port: o.port, method: o.method ?? '', identity: id };
    const plan = this.#plans.get(o.protocol);
    if (!plan) return;
    if (o.kind === 'auth-failure') {
      flow.authFailed++;
      addr.authFailed++;
      if (id) this.#identities.touch(id, t).authFailed++;
      for (const r of plan.auth) {
        if (r.mechanisms && (!o.mechanism || !r.mechanisms.has(o.mechanism))) continue;
        if (r.methods && !r.methods.has(ev.method)) continue;
        if (r.white && this.#whitelisted(r.white, ev)) continue;
        // Failures from a source that authenticated this identity (or, per address, anyone) are its owner's typos.
        if (r.per === 'identity' && (id === undefined || addr.hasGood(id, t, this.#goodMs))) continue;
        if (r.per === 'address' && addr.hasGood(undefined, t, this.#goodMs)) continue;
        this.#counts.get(r.name)!.matched++;
        const partner = this.#partnerFor(r, ev, flow, addr, t);
        const c = partner.counter(r, this.#rules.version);
        if (this.#tally(c, r, partner, t) < r.number) continue;
        this.#fire(r, c, partner, ev, fk, addr, t, o.reason);
      }
      return;
    }
    for (const r of plan.dialog) {
      if (r.methods && !r.methods.has(ev.method.toUpperCase())) continue;
      if (r.white && this.#whitelisted(r.white, ev)) continue;
      this.#counts.get(r.name)!.matched++;
      const partner = this.#partnerFor(r, ev, flow, addr, t);
      const c = partner.counter(r, this.#rules.version);
      if (r.number > 0 && this.#tally(c, r, partner, t) < r.number) continue;
      this.#fire(r, c, partner, ev, fk, addr, t, o.reason);
    }
  }

  /** True when messages from this flow (with this identity) would be dropped by a block. */
  isBlocked(address: string, port: number, identity?: string): boolean {
    if (this.#blacklist.size === 0) return false;
    const t = this.#now();
    const fk = flowKey(address, port);
    const ev = { protocol: 'sip', transport: '', address, port, method: '', identity } as IdsEvent;
    return this.#blockOf(ev, fk, this.#flows.peek(fk), this.#addresses.peek(address), t) !== undefined;
  }

  blocks(): BlockEntry[] {
    return this.#blacklist.list();
  }

  /** True when this flow authenticated successfully within the good-record time. */
  goodFlow(address: string, port: number): boolean {
    return this.#flows.peek(flowKey(address, port))?.hasGood(undefined, this.#now(), this.#goodMs) ?? false;
  }

  /** Lifts a block: an address, `address:port`, `[v6]:port` or `id:<identity>` (an identity with @ alone works too). */
  unblock(target: string): boolean {
    const { keys, lifted } = this.#unblock(target);
    if (this.#sharing) {
      // Lifted everywhere, with the shared evidence, so that no instance blocks it again at once.
      const refs: CounterRef[] = [];
      for (const r of this.#rules.rules) {
        if (r.number <= 0 || r.per === 'global') continue;
        for (const k of keys) {
          const [kind, key] = partnerOf(k);
          refs.push({ ref: counterRef(r.name, kind, key), intervalMs: r.intervalMs });
        }
      }
      this.#sharing.unblock(keys, refs);
    }
    return lifted;
  }

  /** A block another instance made: enforced here as it is (no listener told, nothing sent back). */
  applyBlock(e: BlockEntry): void {
    if (e.until <= this.#now()) return;
    this.#blacklist.merge(e);
  }

  /** An unblock made at another instance (nothing sent back). */
  applyUnblock(target: string): void {
    this.#unblock(target);
  }

  #unblock(target: string): { keys: string[]; lifted: boolean } {
    const keys = [...new Set([target, target.toLowerCase()])];
    if (!target.startsWith('id:') && target.includes('@')) keys.push(identityKey(target));
    let lifted = false;
    for (const k of keys) lifted = this.#blacklist.remove(k) || lifted;
    // The evidence goes with it, so that the next message does not block it again at once.
    const a = this.#addresses.peek(target);
    if (a) {
      a.flowsBlocked = 0;
      a.counters = [];
    }
    const f = this.#flows.peek(target);
    if (f) f.counters = [];
    return { keys, lifted };
  }

  /** An operator's block (every one expires). */
  block(target: string, scope: BlockScope, seconds: number, reason: string): BlockEntry {
    const { entry } = this.#blacklist.add(target, scope, 'operator', reason, Math.max(1, Math.min(seconds, 30 * 86_400)) * 1000);
    this.#sharing?.block(entry);
    return entry;
  }

  partners(max = 200): PartnerView[] {
    const out: PartnerView[] = [];
    for (const table of [this.#flows, this.#addresses, this.#identities]) for (const p of table.values()) out.push(view(p));
    return out.sort((a, b) => b.last - a.last).slice(0, max);
  }

  ruleCounts(): RuleCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c, protocols: [...c.protocols] }));
  }

  sizes(): { flows: number; addresses: number; identities: number; blocks: number; evicted: number } {
    return {
      flows: this.#flows.size,
      addresses: this.#addresses.size,
      identities: this.#identities.size,
      blocks: this.#blacklist.size,
      evicted: this.#flows.evicted + this.#addresses.evicted + this.#identities.evicted,
    };
  }

  /** Forgets idle partners and ended blocks (a timer calls it). */
  sweep(): void {
    const t = this.#now();
    this.#flows.sweep(t, this.#idleMs);
    this.#addresses.sweep(t, this.#idleMs);
    this.#identities.sweep(t, this.#idleMs);
    this.#blacklist.sweep(t);
  }

  #blocked(ev: IdsEvent, fk: string, flow: Partner, addr: Partner, t: number): Verdict | undefined {
    const e = this.#blockOf(ev, fk, flow, addr, t);
    if (!e) return undefined;
    e.hits++;
    this.totals.blockedDrops++;
    return { kind: 'drop', rule: e.rule, reason: `blocked: ${e.reason}` };
  }

  #blockOf(ev: IdsEvent, fk: string, flow: Partner | undefined, addr: Partner | undefined, t: number): BlockEntry | undefined {
    const bl = this.#blacklist;
    const f = bl.get(fk, t);
    if (f) return f;
    const a = bl.get(ev.address, t);
    // A flow that authenticated from a blocked address keeps working.
    if (a && ev.authenticated === undefined && !flow?.hasGood(undefined, t, this.#goodMs)) return a;
    if (ev.identity !== undefined) {
      const id = ev.identity.toLowerCase();
      const i = bl.get(identityKey(id), t);
      if (i && ev.authenticated?.toLowerCase() !== id && !addr?.hasGood(id, t, this.#goodMs)) return i;
    }
    return undefined;
  }

  #matches(r: CompiledRule, ev: IdsEvent): boolean {
    switch (r.type) {
      case 'flood':
        return !r.methods || r.methods.has(ev.method);
      case 'scan':
        return (r.methods ?? DEFAULT_SCAN_METHODS).has(ev.method) && ev.identity !== undefined;
      case 'malformed':
        return ev.malformed !== undefined;
      case 'scanner-signature':
        return (r.userAgent !== undefined && ev.userAgent !== undefined && r.userAgent.test(ev.userAgent)) || (r.from !== undefined && ev.from !== undefined && r.from.test(ev.from));
      case 'injection': {
        if (r.methods && !r.methods.has(ev.method)) return false;
        const re = r.pattern!;
        if ((!r.fields || r.fields.includes('identity')) && ev.identity !== undefined && re.test(ev.identity)) return true;
        const f = ev.fields;
        if (!f) return false;
        if (r.fields) {
          for (const k of r.fields) {
            const v = f[k];
            if (v !== undefined && re.test(v)) return true;
          }
          return false;
        }
        for (const k in f) {
          const v = f[k];
          if (v !== undefined && re.test(v)) return true;
        }
        return false;
      }
      default:
        return false;
    }
  }

  #whitelisted(w: WhiteList | undefined, ev: IdsEvent): boolean {
    if (!w) return false;
    if (ev.link !== undefined && w.links.has(ev.link)) return true;
    if (ev.authenticated !== undefined && w.identities.has(ev.authenticated.toLowerCase())) return true;
    if (w.addresses) {
      const a = ev.address.startsWith('::ffff:') ? ev.address.slice(7) : ev.address;
      return w.addresses.check(a, a.includes(':') ? 'ipv6' : 'ipv4');
    }
    return false;
  }

  #partnerFor(r: CompiledRule, ev: IdsEvent, flow: Partner, addr: Partner, t: number): Partner {
    switch (r.per) {
      case 'flow':
        return flow;
      case 'address':
        return addr;
      case 'global':
        return this.#global;
      case 'identity':
        return ev.identity === undefined ? flow : this.#identities.touch(ev.identity.toLowerCase(), t);
    }
  }

  /** A rule fired: its actions, one detection record per partner and window. */
  #fire(r: CompiledRule, c: Counter, partner: Partner, ev: IdsEvent, fk: string, addr: Partner, t: number, why: string | undefined): Verdict {
    const count = this.#counts.get(r.name)!;
    const a = r.actions;
    const quiet = Math.max(r.intervalMs, QUIET_MS);
    const first = t - c.firedAt >= quiet;
    let block: Detection['block'];
    if (a.block) {
      const b = this.#block(r, a.block.scope, a.block.ms, ev, fk, addr, t);
      if (b) {
        block = b;
        count.blocked++;
      }
    }
    if (first || block) {
      c.firedAt = t;
      count.fired++;
      count.lastFiredAt = t;
      this.totals.detections++;
      const actions: string[] = [];
      if (a.log) actions.push('log');
      if (a.count) actions.push('count');
      if (a.drop) actions.push('drop');
      if (a.answer) actions.push(`answer ${a.answer.status}`);
      if (block) actions.push('block');
      this.#onDetection?.({
        rule: r.name, type: r.type, partner: partner.kind === 'global' ? 'global' : `${partner.kind} ${partner.key}`,
        reason: why ? `${r.reason}: ${why}` : r.reason, actions, protocol: ev.protocol, source: fk, identity: ev.identity, block, at: t,
      });
    }
    if (a.answer) {
      count.answered++;
      this.totals.answered++;
      return { kind: 'reject', rule: r.name, reason: r.reason, status: a.answer.status, ...(a.answer.retryAfter !== undefined ? { retryAfter: a.answer.retryAfter } : {}) };
    }
    if (a.drop || a.block) {
      count.dropped++;
      this.totals.dropped++;
      return { kind: 'drop', rule: r.name, reason: r.reason };
    }
    return PASS;
  }

  #block(r: CompiledRule, scope: BlockScope, ms: number, ev: IdsEvent, fk: string, addr: Partner, t: number): Detection['block'] {
    if (scope === 'identity' && ev.identity !== undefined) {
      const target = identityKey(ev.identity);
      const { entry, fresh } = this.#blacklist.add(target, 'identity', r.name, r.reason, ms);
      this.#sharing?.block(entry);
      if (fresh) this.#made(entry);
      return { target, scope: 'identity', until: t + ms };
    }
    const goodAddress = addr.hasGood(undefined, t, this.#goodMs);
    if (scope === 'address' && !goodAddress) return this.#add(ev.address, 'address', r, r.reason, ms, t);
    const { entry, fresh } = this.#blacklist.add(fk, 'flow', r.name, r.reason, ms);
    this.#sharing?.block(entry);
    const made = { target: fk, scope: 'flow' as const, until: t + ms };
    if (!fresh) return made;
    this.#made(entry);
    // Escalation: several flows of one address blocked, and nobody ever authenticated from it.
    if (t - addr.flowsBlockedAt > this.#escalateMs) addr.flowsBlocked = 0;
    addr.flowsBlocked++;
    addr.flowsBlockedAt = t;
    if (!goodAddress && addr.flowsBlocked >= this.#escalateFlows) {
      return this.#add(ev.address, 'address', r, `${r.reason} (${addr.flowsBlocked} flows of this address blocked)`, ms, t);
    }
    return made;
  }

  #add(target: string, scope: BlockScope, r: CompiledRule, reason: string, ms: number, t: number): Detection['block'] {
    const { entry, fresh } = this.#blacklist.add(target, scope, r.name, reason, ms);
    this.#sharing?.block(entry);
    if (fresh) this.#made(entry);
    return { target, scope, until: t + ms };
  }

  /**
   * Counts one match; with sharing, the larger of this process's count and everyone's. A counter
   * is shared from a part of its threshold on (shared.ts), so ordinary traffic stays local.
   */
  #tally(c: Counter, r: CompiledRule, partner: Partner, t: number): number {
    const local = c.add(t, r.intervalMs);
    const sh = this.#sharing;
    // A global rule guards this process's capacity: it stays per instance.
    if (!sh || partner.kind === 'global') return local;
    let all: number;
    if (c.s) all = sh.add(c.s, t);
    else if (local < sh.threshold(r.number)) return local;
    else all = sh.add((c.s = sh.counter(counterRef(r.name, partner.kind, partner.key), r.intervalMs, 0)), t, Math.floor(local));
    return all > local ? all : local;
  }

  #distinct(c: Counter, r: CompiledRule, partner: Partner, t: number, id: string): number {
    const local = c.distinct(t, r.intervalMs, id, r.number);
    const sh = this.#sharing;
    if (!sh || partner.kind === 'global') return local;
    let all = 0;
    if (c.s) all = sh.distinct(c.s, t, id);
    else if (local < sh.threshold(r.number)) return local;
    else {
      const s = (c.s = sh.counter(counterRef(r.name, partner.kind, partner.key), r.intervalMs, r.number));
      for (const k of c.seen ?? [id]) all = sh.distinct(s, t, k);
    }
    return all > local ? all : local;
  }

  #made(e: BlockEntry): void {
    this.totals.blocks++;
    for (const l of this.blockListeners) l(e);
  }
}

function anyField(re: RegExp, ev: IdsEvent): boolean {
  if (ev.identity !== undefined && re.test(ev.identity)) return true;
  const f = ev.fields;
  if (!f) return false;
  for (const k in f) {
    const v = f[k];
    if (v !== undefined && re.test(v)) return true;
  }
  return false;
}

function view(p: Partner): PartnerView {
  return { kind: p.kind, key: p.key, messages: p.messages, authOk: p.authOk, authFailed: p.authFailed, goodAt: p.goodAt || undefined, created: p.created, last: p.last };
}

/** A counter's name on every instance: rule, partner kind, partner key. */
function counterRef(rule: string, kind: string, key: string): string {
  return `${rule}|${kind}|${key}`;
}

/** The partner a block target names: `id:<identity>`, a flow (`a.b.c.d:port`, `[v6]:port`) or an address (v4 or v6). */
function partnerOf(target: string): ['identity' | 'flow' | 'address', string] {
  if (target.startsWith('id:')) return ['identity', target.slice(3)];
  const colons = target.split(':').length - 1;
  return target.startsWith('[') || colons === 1 ? ['flow', target] : ['address', target];
}

function sharedRefs(counters: ReadonlyArray<Counter | undefined>): CounterRef[] {
  const out: CounterRef[] = [];
  for (const c of counters) if (c?.s) out.push({ ref: c.s.ref, intervalMs: c.s.intervalMs });
  return out;
}
