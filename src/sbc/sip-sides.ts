/**
 * What the SBC's SIP handlers share (registration, calls, the dispatcher): the proxy core,
 * the way to the softswitch over the trusted link, and the way back to a terminal (no
 * `P-KS-*`, an app-hmac tag for app-hmac terminals). The handlers get this object; none of
 * them reaches into another's dependencies.
 */
import { flowKey } from '../ids/blacklist.js';
import type { Logger } from 'pino';
import { signSipMessage, KS_HMAC } from '../adapters/sip/sbc-app-hmac.js';
import { stripPrivate } from '../adapters/sip/ks1-sip.js';
import { isSipUri, type ServerContext, type SipRequest, type SipResponse, type SipStack, type SipTransport } from '../sip/index.js';
import type { ProxyCore } from '../sip/proxy/core.js';
import { takeHop } from '../sip/proxy/hops.js';
import type { RelayBranch } from '../sip/proxy/relay.js';
import type { SoftswitchMember, SoftswitchPool } from './softswitch-pool.js';
import { stripCoreDiagnostics } from './core-diagnostics.js';
import type { FailureCounter, FailureKind } from './sip-failures.js';
import type { RegisteredTerminal } from './sessions.js';
import type { SbcMetrics } from './sip-metrics.js';

/** RFC 3325: set by the SBC alone, for a terminal its mechanism authenticated. */
export const P_ASSERTED_IDENTITY = 'P-Asserted-Identity';

export interface CoreLink {
  stack: SipStack;
  transport: SipTransport;
  /** The softswitches, in order, and which are alive (softswitch-pool.ts). */
  softswitches: SoftswitchPool;
  /** With several softswitches: a request with no answer at all after this long goes to the next one. */
  noAnswerMs: number;
  /** Timer C of an INVITE to the core (RFC 3261 §16.8): no final this long after its last provisional, it is cancelled and the terminal answered 408. */
  timerCMs?: number | undefined;
}

export interface SbcSipCounters {
  registered: number;
  challenged: number;
  refreshed: number;
  forwarded: number;
  answeredLocally: number;
  privateHeadersStripped: number;
  rejected: number;
}

export interface SbcSidesDeps {
  /** The proxy core; its agent is the SBC's IDsp. */
  core: ProxyCore;
  link: CoreLink;
  failures: FailureCounter;
  /** Non-INVITE over UDP: send 100 Trying if the core has not answered after this long (RFC 4320: T2). */
  tryingAfterMs: number;
  logger?: Logger | undefined;
  metrics?: SbcMetrics | undefined;
}

export class SbcSides {
  readonly counters: SbcSipCounters = { registered: 0, challenged: 0, refreshed: 0, forwarded: 0, answeredLocally: 0, privateHeadersStripped: 0, rejected: 0 };
  readonly core: ProxyCore;
  readonly link: CoreLink;
  readonly logger: Logger | undefined;
  readonly #d: SbcSidesDeps;

  constructor(d: SbcSidesDeps) {
    this.#d = d;
    this.core = d.core;
    this.link = d.link;
    this.logger = d.logger;
  }

  /**
   * The softswitch a request's next hop names: its top Route (ours already popped), in a
   * dialog the Record-Route of the softswitch that set it up. Undefined: none of ours.
   */
  routedTo(fwd: SipRequest): SoftswitchMember | undefined {
    if (this.link.softswitches.size < 2) return undefined;
    try {
      const top = fwd.routes()[0];
      return top && isSipUri(top.uri) ? this.link.softswitches.member(top.uri.host, top.uri.port) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Where a request without retries (a stateless ACK) goes: the softswitch its Route names if alive, else the first alive. */
  coreBranchFor(fwd: SipRequest): RelayBranch {
    return this.link.softswitches.pick(this.routedTo(fwd)).branch;
  }

  /** A Request-URI without a user part naming this SBC (or any host: the SBC is the first hop). */
  isForMe(req: SipRequest): boolean {
    try {
      const u = req.requestUri();
      return isSipUri(u) && u.user === undefined;
    } catch {
      return false;
    }
  }

  /**
   * Relays `fwd` to the softswitch through the proxy core and returns the final answer
   * with our Via removed and the core's diagnostics gone (docs/sbc.md). Max-Forwards is
   * counted (483 at zero); 1xx go to the terminal as they come; over UDP a non-INVITE
   * gets 100 Trying if the core is slow (RFC 4320). `edit` sees every answer first.
   */
  async forward(fwd: SipRequest, ctx: ServerContext, rec?: RegisteredTerminal, edit?: (res: SipResponse) => void): Promise<SipResponse> {
    if (!takeHop(fwd)) return this.core.refusal(fwd, 483);
    fwd.remove(KS_HMAC);
    this.counters.forwarded++;
    // Several softswitches: the next one only when this one answers nothing at all (it is marked down);
    // any answer from a live one is the answer. The Route is left as it is: the others take their peers' entries as their own.
    const pool = this.link.softswitches;
    const several = pool.size > 1;
    const out = await this.core.relay({
      stack: this.link.stack, ctx, fwd, branches: several ? pool.order(this.routedTo(fwd)).map((m) => m.branch) : [pool.first.branch],
      ...(several ? {
        failover: true, noAnswerTimeoutMs: this.link.noAnswerMs,
        onUnresponsive: (br: RelayBranch) => this.#down(br, 'no answer'),
        onUnreachable: (br: RelayBranch) => this.#down(br, 'unreachable'),
        // any answer from a softswitch marked down says it is back
        accept: (r: SipResponse, br: RelayBranch) => {
          if (r.localReason === undefined) this.#up(br);
          return true;
        },
      } : {}),
      ...(fwd.method !== 'INVITE' ? { tryingAfterMs: this.#d.tryingAfterMs } : { timerCMs: this.link.timerCMs }),
      upstream: (res, br) => {
        if (br === undefined) return this.reply(ctx, res, rec); // our own 100 Trying
        if (res.status >= 200) return; // the final (and its retransmissions) goes by the caller
        stripCoreDiagnostics(res);
        edit?.(res);
        this.reply(ctx, res, rec);
      },
    });
    let res: SipResponse;
    if (out.kind === 'failed') res = out.best?.res ?? this.core.refusal(fwd, out.cancelled ? 487 : 480);
    else res = out.res;
    stripCoreDiagnostics(res);
    edit?.(res);
    return res;
  }

  #down(br: RelayBranch, why: string): void {
    const m = this.link.softswitches.ofBranch(br);
    if (m) this.link.softswitches.markDown(m, why);
  }

  #up(br: RelayBranch): void {
    const m = this.link.softswitches.ofBranch(br);
    if (m) this.link.softswitches.markUp(m);
  }

  /** Sends a response towards the terminal: no `P-KS-*`, and an app-hmac tag when the terminal uses it. */
  reply(ctx: ServerContext, res: SipResponse, rec?: RegisteredTerminal): void {
    const n = stripPrivate(res);
    if (n) this.counters.privateHeadersStripped += n;
    res.remove(KS_HMAC);
    if (rec?.downlink && rec.session.mechanism === 'app-hmac') signSipMessage(res, rec.downlink);
    ctx.reply(res, { forwarded: true });
  }

  /** Answers a refused request, counts it against the source, and logs why (never a key). */
  refuse(ctx: ServerContext, req: SipRequest, kind: FailureKind, warning: string, rec?: RegisteredTerminal, status = 403, reason?: string): void {
    this.count(ctx, kind);
    this.counters.rejected++;
    this.logger?.warn({ source: flowKey(ctx.source.address, ctx.source.port), method: req.method, kind, warning }, 'sbc: refused');
    if (req.method === 'ACK') return;
    this.reply(ctx, this.core.refusal(req, status, { reason, warning }), rec);
  }

  count(ctx: ServerContext, kind: FailureKind): void {
    this.#d.failures.count(flowKey(ctx.source.address, ctx.source.port), kind);
    this.#d.metrics?.authFailure(kind);
  }

  /** A failure from a flow (`address:port`) that is not a request's (an answer dropped). */
  countSource(flow: string, kind: FailureKind): void {
    this.#d.failures.count(flow, kind);
  }
}
