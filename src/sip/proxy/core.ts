/**
 * The SIP proxy core (RFC 3261 §16): the mechanics every proxy role shares, with the role's
 * policies plugged in as hooks (hooks.ts). A role is this core plus its policies; it decides
 * where a request goes and what it may carry, the core does the rest the same way for all:
 * Max-Forwards, loops and spirals, own-Route popping and strict routers, Record-Route per side,
 * sequential forking with CANCEL fan-out, stray 2xx, refusals and their Warning.
 * docs/sip-stack.md (Proxy core) gives the order in which hooks run.
 */
import type { SipRequest, SipResponse } from '../message.js';
import type { SendOptions, ServerContext, SipStack } from '../stack.js';
import type { MessageSource, SipTransport } from '../transport/types.js';
import { PASS, type ForwardTarget, type InboundVerdict, type OnInbound, type ProxyHooks } from './hooks.js';
import { LOOP_PARAM, looped, loopKey, takeHop } from './hops.js';
import type { OwnAddresses } from './own-addresses.js';
import { relay, type RelayBranch, type RelayOptions, type RelayOutcome } from './relay.js';
import { popOwnRoutes, recordRoutePerSide } from './route.js';
import { refusal, warningValue, type RefusalOptions } from './warning.js';

export interface ProxyCoreOptions {
  /** Addresses that are this proxy. */
  own: OwnAddresses;
  /** The agent our Warning values name (the SBC's IDsp, the softswitch's realm). */
  agent: string;
  hooks?: Pick<ProxyHooks, 'onForward' | 'onResponse' | 'onError'>;
}

/** Why a request cannot be proxied as it is (§16.3), with the answer's status. */
export type ProxyCheck = {
  ok: true;
  fwd: SipRequest;
  loopKey: string | undefined;
  remainingRoutes: number;
  /** It came along a route set we are in: our Route entry on top, or a strict router naming us. */
  routedHere: boolean;
} | { ok: false; status: number; headers?: Array<[string, string]> };

/** Runs `onInbound` hooks in order; the first that does not pass decides. */
export function composeInbound(...hooks: Array<OnInbound | undefined>): OnInbound | undefined {
  const list = hooks.filter((h): h is OnInbound => h !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  return (msg, src): InboundVerdict => {
    for (const h of list) {
      const v = h(msg, src);
      if (v.kind !== 'pass') return v;
    }
    return PASS;
  };
}

export class ProxyCore {
  readonly own: OwnAddresses;
  readonly agent: string;
  readonly #hooks: NonNullable<ProxyCoreOptions['hooks']>;
  /** Ring and no-answer timers of relays in progress. */
  readonly timers = new Set<NodeJS.Timeout>();

  constructor(o: ProxyCoreOptions) {
    this.own = o.own;
    this.agent = o.agent;
    this.#hooks = o.hooks ?? {};
  }

  /** `399 <agent> "<text>"`, escaped by the one rule (warning.ts). */
  warning(text: string): string {
    return warningValue(this.agent, text);
  }

  /** A final answer made here, with a fresh To tag and our Warning when given. */
  refusal(req: SipRequest, status: number, o?: RefusalOptions): SipResponse {
    return refusal(req, status, this.agent, o);
  }

  /**
   * §16.3 and §16.4 for a request to forward: Max-Forwards (483), loop detection when
   * `loop` (482, the key goes in our Via), Proxy-Require (420) when `proxyRequire`, and the
   * copy to forward with its hop counted and our own Route entries popped (a strict
   * router's Request-URI repaired).
   */
  check(req: SipRequest, o: { loop?: boolean; proxyRequire?: boolean } = {}): ProxyCheck {
    if (req.maxForwards() === 0) return { ok: false, status: 483 };
    let key: string | undefined;
    if (o.loop) {
      key = loopKey(req);
      if (looped(req, this.own, key)) return { ok: false, status: 482 };
    }
    if (o.proxyRequire) {
      const pr = req.tokens('Proxy-Require');
      if (pr.length > 0) return { ok: false, status: 420, headers: [['Unsupported', pr.join(', ')]] };
    }
    const fwd = req.clone();
    takeHop(fwd);
    const r = popOwnRoutes(fwd, this.own);
    return { ok: true, fwd, loopKey: key, remainingRoutes: r.remaining, routedHere: r.popped > 0 || r.strict };
  }

  /** Record-Route per side for a dialog-forming request (route.ts). */
  recordRoute(fwd: SipRequest, inbound: SipTransport, outbound: SipTransport, host?: (t: SipTransport) => string): void {
    recordRoutePerSide(fwd, inbound, outbound, host);
  }

  /**
   * The role's request handler with `onError` around it: a failure the role's policy maps to an
   * answer (a shared store out of reach: 503 with Retry-After) is answered here, in one place for
   * every role; any other goes on to the stack (500, reported). Without the hook, the handler as it is.
   */
  serve(handle: RequestHandler): RequestHandler {
    const onError = this.#hooks.onError;
    if (!onError) return handle;
    const fail = (e: unknown, req: SipRequest, ctx: ServerContext): void => {
      const a = onError(e, req);
      if (!a) throw e;
      if (req.method === 'ACK' || ctx.transaction?.answered) return;
      ctx.reply(this.refusal(req, a.status, { retryAfter: a.retryAfter, warning: a.warning }));
    };
    return (req, ctx) => {
      let r: void | Promise<void>;
      try {
        r = handle(req, ctx);
      } catch (e) {
        return fail(e, req, ctx);
      }
      return r ? r.catch((e: unknown) => fail(e, req, ctx)) : r;
    };
  }

  /**
   * Relays a request statefully (relay.ts) with the role's hooks: `onForward` sees each
   * branch's copy last before it leaves; `onResponse` each answer on its way upstream.
   */
  relay<B extends RelayBranch>(
    o: Omit<RelayOptions<B>, 'timers'> & { loopKey?: string | undefined; source?: MessageSource },
  ): Promise<RelayOutcome<B>> {
    const onForward = this.#hooks.onForward;
    const onResponse = this.#hooks.onResponse;
    const key = o.loopKey;
    // no hook and no loop key (the SBC): the options as they are, without wrappers per request
    if (!onForward && !onResponse && key === undefined) return relay(o, this.timers);
    const src = o.source ?? o.ctx.source;
    const prepare = (out: SipRequest, br: B): SendOptions['viaParams'] | void => {
      const extra = o.prepare?.(out, br) ?? undefined;
      if (onForward) onForward({ request: out, source: src, target: targetOf(br) });
      if (key === undefined) return extra;
      return { ...extra, [LOOP_PARAM]: key };
    };
    const upstream = (res: SipResponse, br: B | undefined): void => {
      if (onResponse && onResponse(res, { request: o.fwd, source: res.receivedFrom }) === false) return;
      o.upstream(res, br);
    };
    // a failure goes to the role's handler, and from it to `serve`'s onError
    return relay({ ...o, prepare, upstream, timers: this.timers });
  }

  /** Forwards without a transaction (an ACK for a 2xx, §16.11): hop counted by `check`, `onForward` last. */
  forwardStateless(stack: SipStack, fwd: SipRequest, src: MessageSource, where: SendOptions = {}): Promise<void> {
    this.#hooks.onForward?.({ request: fwd, source: src, target: targetOf(where) });
    return stack.sendStateless(fwd, where).catch((e: unknown) => {
      this.#hooks.onError?.(e, fwd);
    });
  }

  /**
   * A response that matched no transaction (a 2xx retransmission after ours ended, §16.7
   * step 5 / RFC 6026): passed on statelessly when its top Via is ours and another is below.
   * `edit` applies the role's header policy; false when it was not ours to pass.
   */
  relayStray(stack: SipStack, res: SipResponse, edit?: (out: SipResponse) => void): boolean {
    const via = res.topVia();
    if (!via || !this.own.via(via) || res.vias().length < 2) return false;
    res.shift('Via');
    edit?.(res);
    stack.sendStateless(res).catch(() => undefined);
    return true;
  }

  /** Clears the timers of relays in progress (on close). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

function targetOf(x: { destination?: SendOptions['destination'] | undefined }): ForwardTarget {
  const d = x.destination;
  if (!d) return { address: '', port: 0 };
  const t: ForwardTarget = { address: d.address, port: d.port };
  if (d.protocol) t.protocol = d.protocol;
  if (d.connection) t.connection = d.connection;
  return t;
}

/** What a stack calls with a request past its transaction layer. */
export type RequestHandler = (req: SipRequest, ctx: ServerContext) => void | Promise<void>;

export type { ServerContext };
