/**
 * The dialogs the SBC carries, and who owns each side of them.
 *
 * The party of a side is the authenticated terminal that set the dialog up
 * on that side: a KS1 terminal by its IDc (its mechanism — app-hmac tag,
 * TLS-PSK or TLS connection — proves every later request), a Digest phone by
 * the AoR the softswitch authenticated and the flow (transport, address,
 * port) it set the dialog up from, since it has no session key. Only the
 * party may send in-dialog requests on its side (docs/sbc-calls.md).
 *
 * The party travels signed in the route set (`ks-pa` / `ks-pb` beside
 * `ks-rsa` / `ks-rsb`, docs/header-signing.md), so any instance of a pool
 * checks it. The table here is the local record: one small entry per call,
 * made when the INVITE's 2xx passes and dropped on the BYE's answer (or after
 * a maximum age); it names the parties when signing is off, and serves
 * counting and status.
 */
import type { MessageSource, TransportProtocol } from '../sip/index.js';
import { canonicalIdentity } from '../sip/uri-compare.js';
import { ArrivalOrder } from '../lib/arrival-order.js';

/** Where a Digest phone's requests come from: the flow is its only proof. */
export interface PartyFlow {
  protocol: TransportProtocol;
  address: string;
  port: number;
}

export interface DialogParty {
  /** IDc of a KS1 terminal, or the AoR a Digest phone authenticated as; canonical (src/sip/uri-compare.ts). */
  idc: string;
  /** Digest phones only: the flow that set the dialog up. */
  flow?: PartyFlow;
}

/** A flow as the socket saw it; an IPv4 peer on a dual-stack socket is written as IPv4. */
export function flowOf(src: Pick<MessageSource, 'protocol' | 'address' | 'port'>): PartyFlow {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(src.address);
  return { protocol: src.protocol, address: v4 ? v4[1]! : src.address.toLowerCase(), port: src.port };
}

export function sameFlow(a: PartyFlow, b: PartyFlow): boolean {
  return a.protocol === b.protocol && a.address === b.address && a.port === b.port;
}

export function ks1Party(idc: string): DialogParty {
  return { idc: canonicalIdentity(idc) };
}

export function flowParty(idc: string, src: Pick<MessageSource, 'protocol' | 'address' | 'port'>): DialogParty {
  return { idc: canonicalIdentity(idc), flow: flowOf(src) };
}

/**
 * The party as one line of text: `ks1 <idc>` or `flow <protocol> <address>
 * <port> <idc>` (the IDc last: it is the only field that may hold a space).
 * This is what the route-set signature covers and what `ks-pa`/`ks-pb` carry.
 */
export function partyText(p: DialogParty): string {
  return p.flow ? `flow ${p.flow.protocol} ${p.flow.address} ${p.flow.port} ${p.idc}` : `ks1 ${p.idc}`;
}

const PARTY_RE = /^(?:ks1 ([^\r\n]+)|flow (udp|tcp|tls) ([0-9A-Fa-f.:]{1,45}) ([0-9]{1,5}) ([^\r\n]+))$/;

/** Parses `partyText`; undefined for anything else. */
export function parseParty(s: string): DialogParty | undefined {
  const m = PARTY_RE.exec(s);
  if (!m) return undefined;
  if (m[1] !== undefined) return { idc: m[1] };
  const port = Number(m[4]);
  if (port < 1 || port > 65535) return undefined;
  return { idc: m[5]!, flow: { protocol: m[2] as TransportProtocol, address: m[3]!, port } };
}

export interface CarriedDialog {
  callId: string;
  /** The caller's tag (From of the INVITE) and the callee's (To of its 2xx). */
  callerTag: string;
  calleeTag: string;
  /** The party of each side behind this SBC; undefined for a side beyond the core. */
  caller?: DialogParty;
  callee?: DialogParty;
  /** Which side(s) of the SBC the parties are on. */
  direction: 'outbound' | 'inbound';
  startedAt: number;
}

export class DialogTable {
  readonly #byKey = new Map<string, CarriedDialog>();
  /** Opening order (= age order), so that the bound and the sweep never walk the Map's holes: one dialog per open at the bound, the oldest. */
  readonly #order = new ArrivalOrder(this.#byKey);
  #started = 0;
  #ended = 0;

  constructor(
    private readonly maxAgeMs = 24 * 3600_000,
    private readonly maxDialogs = 1_000_000,
    private readonly now: () => number = Date.now,
  ) {}

  static key(callId: string, tagA: string, tagB: string): string {
    // The same key whichever side sends: the tags are sorted.
    return tagA < tagB ? `${callId}\n${tagA}\n${tagB}` : `${callId}\n${tagB}\n${tagA}`;
  }

  /**
   * Records a confirmed dialog. A 2xx retransmission does not count twice;
   * the second copy of a call between two terminals behind this SBC (its
   * other leg) adds the party of the other side.
   */
  open(d: Omit<CarriedDialog, 'startedAt'>): boolean {
    const k = DialogTable.key(d.callId, d.callerTag, d.calleeTag);
    const had = this.#byKey.get(k);
    if (had) {
      if (!had.caller && d.caller) had.caller = d.caller;
      if (!had.callee && d.callee) had.callee = d.callee;
      return false;
    }
    if (this.#byKey.size >= this.maxDialogs) this.#order.shift();
    const dialog: CarriedDialog = { ...d, startedAt: this.now() };
    this.#byKey.set(k, dialog);
    this.#order.push(k, dialog);
    this.#started++;
    return true;
  }

  get(callId: string, tagA: string, tagB: string): CarriedDialog | undefined {
    return this.#byKey.get(DialogTable.key(callId, tagA, tagB));
  }

  /** The party of the side whose tag is `fromTag` (the sender of an in-dialog request), if recorded. */
  partyOf(callId: string, fromTag: string, toTag: string): DialogParty | undefined {
    const d = this.get(callId, fromTag, toTag);
    if (!d) return undefined;
    if (fromTag === d.callerTag && toTag === d.calleeTag) return d.caller;
    if (fromTag === d.calleeTag && toTag === d.callerTag) return d.callee;
    return undefined;
  }

  /** Ends a dialog (BYE answered); true if it was held. */
  close(callId: string, tagA: string, tagB: string): boolean {
    const ok = this.#byKey.delete(DialogTable.key(callId, tagA, tagB));
    if (ok) this.#ended++;
    return ok;
  }

  /** Forgets dialogs older than the maximum age; returns how many. */
  sweep(): number {
    const limit = this.now() - this.maxAgeMs;
    let n = 0;
    for (let d = this.#order.peek(); d !== undefined && d.startedAt <= limit; d = this.#order.peek()) {
      this.#order.shift(); // opening order is age order
      n++;
    }
    return n;
  }

  get size(): number {
    return this.#byKey.size;
  }

  stats(): { active: number; started: number; ended: number } {
    return { active: this.#byKey.size, started: this.#started, ended: this.#ended };
  }
}
