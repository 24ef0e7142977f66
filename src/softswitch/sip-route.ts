/**
 * The softswitch's call router: an RFC 3261 §16 transaction-stateful proxy
 * over the SIP stack for every method but REGISTER. Out-of-dialog requests
 * are routed by the location service (memory cache over the store, contacts
 * tried in q order); in-dialog requests by their Route set and Request-URI
 * only, so the store is never read for them. See docs/softswitch-calls.md.
 */
import type { Logger } from '../log/logger.js';
import {
  formatUri, isSipUri, parseNameAddr, randomToken, unescapeUri,
  type SendOptions, type ServerContext, type SipRequest, type SipResponse, type SipStack, type SipTransport, type SipUri, type Uri,
} from '../sip/index.js';
import { identityOfUri, sameIdentity } from '../sip/uri-compare.js';
import type { MessageSource } from '../sip/transport/types.js';
import { ProxyCore, type RequestHandler } from '../sip/proxy/core.js';
import type { ProxyHooks } from '../sip/proxy/hooks.js';
import { OwnAddresses } from '../sip/proxy/own-addresses.js';
import { LOOP_PARAM } from '../sip/proxy/hops.js';
import { defaultPort, sentByPort } from '../sip/proxy/ports.js';
import { toTag as toTagOf } from '../sip/proxy/dialog.js';
import type { RelayBranch } from '../sip/proxy/relay.js';
import { DIALOG_FORMING, PROXY_ALLOW, targetOf, type Hop, type HopProtocol } from './calls.js';
import { FlowIndex, type FlowHop } from './calls-flows.js';
import type { LocationCache } from './location-cache.js';
import type { SoftswitchMetrics } from './metrics.js';
import { aorOfUri, P_ASSERTED_IDENTITY, type CallAuthenticator } from './call-auth.js';
import type { DivertReason, VoicemailPolicy } from './voicemail-policy.js';
import type { SbcPool } from './sbc-pool.js';
import { dropOldest } from '../lib/map-eviction.js';

export interface CallRouterOptions {
  /**
   * With a request: did it come from an SBC (trusted address and a valid core-link
   * signature, docs/sip-core-link.md)? Without: is this next hop's address an SBC's
   * (whose P-KS-* headers are kept)?
   */
  trusted: (address: string, req?: SipRequest) => boolean;
  location: LocationCache;
  /** Is this AoR provisioned at all? Tells 404 (never) from 480 (nobody registered now). */
  known: (aor: string) => Promise<boolean>;
  /** Domain for `user@<our address>` Request-URIs that match no AoR: tried as `user@realm`. */
  realm: string;
  /** A branch that has no final answer after this long is cancelled and the next contact tried (default 60000). */
  ringTimeoutMs?: number;
  /**
   * An INVITE branch that has sent back nothing at all, not even 100 Trying,
   * after this long is given up and the next contact tried (default 4000):
   * its next hop is gone (an SBC restarted on a new address, a terminal that
   * went away without de-registering). Every live hop answers 100 at once.
   */
  noAnswerTimeoutMs?: number;
  /** Host written in our Record-Route and recognised in Route (default: each transport's host). */
  recordRouteHost?: string;
  /**
   * The other softswitch instances (`softswitch.sip.peers`): their Record-Route entries are taken
   * as ours, so an SBC can send a dialog's requests here when the softswitch that set it up is gone.
   */
  peers?: ReadonlyArray<{ host: string; port: number }>;
  /** How long a `known` answer is reused (default 10000 ms). */
  knownTtlMs?: number;
  /** The proxy core's onError policy for requests it serves (`serve`): a shared store out of reach answered 503. */
  onError?: ProxyHooks['onError'];
  metrics?: SoftswitchMetrics;
  flows?: FlowIndex;
  /** Authenticates out-of-dialog requests (docs/softswitch-calls.md); absent: anyone may call (routing-only benchmarks). */
  auth?: CallAuthenticator;
  logger?: Logger;
  /** Voicemail diversion (docs/voicemail.md): the one policy call of src/softswitch/voicemail-policy.ts. */
  voicemail?: VoicemailPolicy;
  /**
   * The SBC instances of one pool by core address (`softswitch.sbcPool`): a branch whose first
   * hop is one of them goes to the next when it answers nothing at all (sbc-pool.ts).
   */
  sbcPool?: SbcPool;
}

export interface CallRouterStats {
  routed: number;
  inDialog: number;
  /** New INVITEs answered 2xx. */
  answered: number;
  notFound: number;
  unavailable: number;
  cancelled: number;
  timeouts: number;
  /** INVITE branches given up because their next hop never answered at all. */
  unresponsive: number;
  loops: number;
  tooManyHops: number;
  badExtension: number;
  pksStripped: number;
  strayForwarded: number;
  optionsAnswered: number;
  /** In-dialog requests from an SBC whose asserted sender is neither party of the dialog (403; ACK dropped). */
  notParty: number;
}

/** One attempt at one next hop. */
interface Branch extends RelayBranch {
  hop?: FlowHop;
  /** After a 1xx/2xx from this hop, its Contact is reached through it (SBC or stream). */
  learnContact: boolean;
}

export class SoftswitchCallRouter {
  readonly #o: CallRouterOptions;
  readonly #ring: number;
  readonly #quiet: number;
  readonly #flows: FlowIndex;
  readonly #known = new Map<string, { value: boolean; at: number }>();
  #stack: SipStack | undefined;
  /** Our addresses and our peers': filled when the stack is attached (they are its transports'). */
  readonly #own = new OwnAddresses();
  /** The proxy mechanics (src/sip/proxy). */
  readonly #core: ProxyCore;
  /** This instance's own addresses only (the core's include its peers'): what a spiral must come from. */
  #self = new OwnAddresses();
  readonly st: CallRouterStats = {
    routed: 0, inDialog: 0, answered: 0, notFound: 0, unavailable: 0, cancelled: 0, timeouts: 0, unresponsive: 0, loops: 0,
    tooManyHops: 0, badExtension: 0, pksStripped: 0, strayForwarded: 0, optionsAnswered: 0, notParty: 0,
  };

  constructor(o: CallRouterOptions) {
    this.#o = o;
    this.#ring = o.ringTimeoutMs ?? 60_000;
    this.#quiet = Math.min(o.noAnswerTimeoutMs ?? 4000, this.#ring);
    this.#flows = o.flows ?? new FlowIndex();
    this.#core = new ProxyCore({ own: this.#own, agent: o.realm, ...(o.onError ? { hooks: { onError: o.onError } } : {}) });
  }

  /** The stack is made with this router's handlers, so it is handed over after. */
  attach(stack: SipStack): void {
    this.#stack = stack;
    const hosts = this.#o.recordRouteHost ? [this.#o.recordRouteHost] : [];
    this.#self = new OwnAddresses().addTransports(stack.transports, hosts);
    this.#own.addTransports(stack.transports, hosts);
    for (const p of this.#o.peers ?? []) this.#own.add(p.host, p.port);
  }

  /** The stack's request handler (this router's and the registrar's) served by the proxy core: its onError answers. */
  serve(handle: RequestHandler): RequestHandler {
    return this.#core.serve(handle);
  }

  get flows(): FlowIndex {
    return this.#flows;
  }

  close(): void {
    this.#core.close();
  }

  #transportFor(p: HopProtocol): SipTransport | undefined {
    return this.#stack?.transports.find((t) => t.protocol === p);
  }

  // ---- entry points ------------------------------------------------------------

  /** The stack's onRequest for everything but REGISTER. */
  onRequest = async (req: SipRequest, ctx: ServerContext): Promise<void> => {
    const stack = this.#stack;
    if (!stack) return;
    const src = ctx.source;
    if (!this.#o.trusted(src.address, req)) {
      this.#stripPks(req);
      // RFC 3325 §5: an identity asserted by someone outside the trust domain is not believed, nor passed on.
      req.remove(P_ASSERTED_IDENTITY);
    }
    if (req.method === 'ACK') return this.#ack(req, src);

    const ruri = req.requestUri();
    if (!isSipUri(ruri)) {
      ctx.respond(416, undefined, { toTag: randomToken() });
      return;
    }
    const toTag = toTagOf(req) ?? '';
    const isOptionsToUs = req.method === 'OPTIONS' && !toTag && !ruri.user;
    if (req.maxForwards() === 0 || isOptionsToUs) {
      if (req.method === 'OPTIONS') return this.#answerOptions(ctx);
      this.st.tooManyHops++;
      ctx.reply(this.#core.refusal(req, 483));
      return;
    }
    // §16.3: loops (482), Proxy-Require (420); the copy with its hop counted and our Route entries popped
    const checked = this.#core.check(req, { loop: true, proxyRequire: true });
    if (!checked.ok) {
      if (checked.status === 482) this.st.loops++;
      else if (checked.status === 420) this.st.badExtension++;
      else this.st.tooManyHops++;
      ctx.reply(this.#core.refusal(req, checked.status, { headers: checked.headers ?? [] }));
      return;
    }
    const { fwd, loopKey: key } = checked;
    const remaining = checked.remainingRoutes;
    const inDialog = toTag !== '';
    if (!(await this.#authorised(req, fwd, ctx, inDialog, checked.routedHere))) return;
    this.#o.metrics?.routed(req.method, inDialog);

    if (remaining > 0 || inDialog) {
      if (inDialog) this.st.inDialog++;
      // In a dialog the Route set and Request-URI say everything: no store access here.
      const hop = remaining > 0 ? undefined : this.#flows.find(fwd.uri);
      return this.#relay(req, ctx, fwd, [this.#branch(undefined, hop, false)], { key, recordRoute: false, newCall: false });
    }

    if (DIALOG_FORMING.has(req.method)) this.#learnFromRequest(req, src);
    const target = fwd.requestUri() as SipUri;
    if (!target.user) {
      ctx.respond(404, undefined, { toTag: randomToken() });
      this.st.notFound++;
      return;
    }
    const newCall = req.method === 'INVITE';
    if (newCall) this.#o.metrics?.callsAttempted.inc();
    let cancelled = false;
    if (newCall) ctx.onCancel(() => (cancelled = true));
    // ---- voicemail: a message's retrieval address goes to the media server (docs/voicemail.md) ----
    if (newCall && this.#o.voicemail?.isRetrieval(target.user)) return this.#toVoicemail(req, ctx, fwd, key, undefined);
    const branches = await this.#lookup(target);
    if (newCall && (cancelled || ctx.cancelled)) return this.#final(ctx, 487, newCall);
    if (branches === 404 || branches === 480) {
      if (branches === 404) this.st.notFound++;
      else this.st.unavailable++;
      // ---- voicemail: provisioned but not registered ----
      if (branches === 480 && newCall && this.#o.voicemail) return this.#toVoicemail(req, ctx, fwd, key, 'unavailable');
      return this.#final(ctx, branches, newCall);
    }
    return this.#relay(req, ctx, fwd, branches, { key, recordRoute: DIALOG_FORMING.has(req.method), newCall });
  };

  /** The stack's onStrayResponse: 2xx retransmissions (and late answers) after our transactions ended. */
  onStrayResponse = (res: SipResponse, src: MessageSource): void => {
    const stack = this.#stack;
    if (!stack) return;
    const passed = this.#core.relayStray(stack, res, (out) => {
      if (!this.#o.trusted(src.address)) this.#stripPks(out);
    });
    if (passed) this.st.strayForwarded++;
  };

  // ---- pieces ------------------------------------------------------------------

  #answerOptions(ctx: ServerContext): void {
    this.st.optionsAnswered++;
    ctx.respond(200, undefined, { toTag: randomToken(), headers: [['Allow', PROXY_ALLOW], ['Accept', 'application/sdp']] });
  }

  #final(ctx: ServerContext, status: number, newCall: boolean): void {
    if (newCall) this.#o.metrics?.callFinished(status);
    if (status === 487) this.st.cancelled++;
    ctx.respond(status, undefined, { toTag: randomToken() });
  }

  /**
   * Out-of-dialog requests need an authenticated caller. A request inside a
   * dialog from a trusted SBC passes when the identity the SBC asserts for
   * its sender is a party of the dialog (the SBC checked the route-set
   * signature and that the sender owns its side, docs/sbc-calls.md); from
   * anyone else when it came along a route set we are in (our Route entry,
   * or a strict router naming us). A To tag alone does not make a dialog, so
   * anything else is authenticated like a new request.
   */
  async #authorised(req: SipRequest, fwd: SipRequest, ctx: ServerContext, inDialog: boolean, routedHere: boolean): Promise<boolean> {
    const auth = this.#o.auth;
    if (!auth) return true;
    if (inDialog && this.#o.trusted(ctx.source.address, req)) {
      if (this.#assertsParty(req)) return true;
      this.st.notParty++;
      this.#o.logger?.info({ source: `${ctx.source.address}:${ctx.source.port}`, method: req.method }, 'softswitch: in-dialog request from an SBC that asserts no party of the dialog');
      ctx.reply(this.#core.refusal(req, 403, { warning: 'the sender is not a party of this dialog' }));
      return false;
    }
    // From an SBC's address only its signed requests are the SBC (docs/sip-core-link.md); an unsigned one gets no route-set pass either.
    if (inDialog && routedHere && !this.#o.trusted(ctx.source.address)) return true;
    // A spiral (we sent it to ourselves, e.g. a contact that names us): authenticated on its first pass.
    const top = req.topVia();
    // not a peer's: a request sent from another instance's address is authenticated like any other
    const own = this.#self;
    if (top && LOOP_PARAM in top.params && own.via(top) && ctx.source.port === sentByPort(top) && own.has(ctx.source.address, ctx.source.port)) return true;
    const a = await auth.check(req, ctx.source);
    if (a.ok) {
      auth.consume(fwd);
      return true;
    }
    ctx.respond(a.status, a.reason, { toTag: randomToken(), headers: a.headers });
    return false;
  }

  /**
   * Does the SBC's `P-Asserted-Identity` name a party of this dialog — the
   * From or the To of the request (RFC 3261 §12.2.1.1: the local and remote
   * URIs)? Identities are compared as SIP URIs (host case-insensitive); a
   * URI naming our own host also stands for `user@realm`, as the location
   * service reads it.
   */
  #assertsParty(req: SipRequest): boolean {
    let asserted: string | undefined;
    let parties: Uri[];
    try {
      // RFC 3325 §9.1: one or two values (a SIP URI and a tel URI); the SIP one is the identity.
      for (const v of req.getAll(P_ASSERTED_IDENTITY)) asserted ??= identityOfUri(parseNameAddr(v.trim(), P_ASSERTED_IDENTITY).uri);
      parties = [req.from().uri, req.to().uri];
    } catch {
      return false;
    }
    if (asserted === undefined) return false;
    return parties.some((u) => this.#identitiesOf(u).some((id) => sameIdentity(id, asserted)));
  }

  #identitiesOf(u: Uri): string[] {
    const id = identityOfUri(u);
    if (id === undefined || !isSipUri(u) || u.user === undefined) return id === undefined ? [] : [id];
    const host = u.host.toLowerCase();
    return this.#core.own.hasHost(host) ? [id, `${unescapeUri(u.user)}@${this.#o.realm}`] : [id];
  }

  #stripPks(m: SipRequest | SipResponse): void {
    const before = m.headers.length;
    if (!m.headers.some((h) => h.key.startsWith('p-ks-'))) return;
    m.headers = m.headers.filter((h) => !h.key.startsWith('p-ks-'));
    if (m.headers.length !== before) this.st.pksStripped++;
  }

  /** A dialog-forming request from an SBC or over a stream: its Contact is reached back the same way. */
  #learnFromRequest(req: SipRequest, src: MessageSource): void {
    const stream = src.protocol !== 'udp';
    if (!stream && !this.#o.trusted(src.address, req)) return;
    const c = req.contacts()[0];
    if (!c || 'star' in c) return;
    const hop: FlowHop = { address: src.address, port: src.port, protocol: src.protocol };
    if (src.connection) hop.connection = src.connection;
    this.#flows.remember(formatUri(c.uri), hop);
  }

  #learnFromResponse(res: SipResponse, hop: FlowHop | undefined): void {
    if (!hop) return;
    try {
      const c = res.contacts()[0];
      if (c && !('star' in c)) this.#flows.remember(formatUri(c.uri), hop);
    } catch {
      // a malformed Contact in a response is the peer's problem; routing goes on by URI
    }
  }

  async #isKnown(aor: string): Promise<boolean> {
    const t = Date.now();
    const c = this.#known.get(aor);
    if (c && t - c.at < (this.#o.knownTtlMs ?? 10_000)) return c.value;
    const value = await this.#o.known(aor);
    // At the bound the oldest sixteenth goes at once (one per new AoR walked the Map's holes: src/lib/map-eviction.ts);
    // an AoR already held is updated in place and makes no room.
    if (this.#known.size >= 10_000 && !this.#known.has(aor)) dropOldest(this.#known, 625);
    this.#known.set(aor, { value, at: t });
    return value;
  }

  /** Location service: the branches for an AoR, or 404 (unknown) / 480 (known, nobody registered). */
  async #lookup(target: SipUri): Promise<Branch[] | 404 | 480> {
    const user = unescapeUri(target.user!);
    const host = target.host.toLowerCase();
    const candidates = [user + '@' + host];
    if (host !== this.#o.realm.toLowerCase() && this.#core.own.hasHost(host)) candidates.push(user + '@' + this.#o.realm.toLowerCase());
    const loc = this.#o.location;
    for (const aor of candidates) {
      const before = loc.st.misses;
      const bindings = await loc.lookup(aor);
      this.#o.metrics?.locationLookups.inc({ result: loc.st.misses === before ? 'hit' : 'miss' });
      if (bindings.length === 0) continue;
      return byPreference(bindings).map((b) => {
        const t = targetOf(b);
        const learn = t.viaSbc || (t.hop !== undefined && t.hop.protocol !== 'udp');
        if (t.hop && learn) this.#flows.remember(t.requestUri, t.hop);
        return this.#branch(t.requestUri, t.hop, learn);
      });
    }
    for (const aor of candidates) if (await this.#isKnown(aor)) return 480;
    return 404;
  }

  #branch(requestUri: string | undefined, hop: FlowHop | undefined, learnContact: boolean): Branch {
    const br: Branch = { learnContact };
    if (requestUri !== undefined) br.requestUri = requestUri;
    if (hop) {
      br.hop = hop;
      br.destination = destinationOf(hop);
    }
    return br;
  }

  /**
   * Relays `fwd` through the proxy core: each branch in turn until one answers 2xx or 6xx
   * (sequential forking), provisional answers passed on, CANCEL fanned out to the live
   * branch; the best final answer goes upstream. The policies are ours: Record-Route on
   * dialog-forming requests, P-KS-* only towards and from SBCs, contacts learnt from answers.
   */
  async #relay(req: SipRequest, ctx: ServerContext, fwd: SipRequest, branches: Branch[], o: { key: string | undefined; recordRoute: boolean; newCall: boolean; diverted?: boolean }): Promise<void> {
    const stack = this.#stack!;
    const invite = req.method === 'INVITE';
    this.st.routed++;
    const pass = (res: SipResponse, hop: FlowHop | undefined): void => {
      if (!hop || !this.#o.trusted(hop.address)) this.#stripPks(res);
      ctx.reply(res, { forwarded: true });
    };
    const rrHost = this.#o.recordRouteHost;
    const pool = this.#o.sbcPool;
    if (pool) branches = branches.map((br) => this.#poolBranch(fwd, br, pool));
    // With one branch the core sends `fwd` itself (our Via and Record-Route on it): a call that may
    // still go to voicemail keeps its request clean for that second relay.
    const divertable = o.newCall && !o.diverted && this.#o.voicemail !== undefined;
    const out = await this.#core.relay<Branch>({
      stack, ctx, fwd: divertable ? fwd.clone() : fwd, branches, loopKey: o.key,
      ...(pool ? { onHopFailed: (d: SendOptions['destination'], _br: Branch, why: 'silent' | 'error', method: string) => this.#sbcDown(pool, d, why, method) } : {}),
      // ---- voicemail: no answer within softswitch.voicemail.noAnswerSeconds ----
      ringTimeoutMs: o.newCall && !o.diverted && this.#o.voicemail ? Math.min(this.#ring, this.#o.voicemail.noAnswerMs) : this.#ring,
      noAnswerTimeoutMs: this.#quiet,
      onUnresponsive: () => this.st.unresponsive++,
      prepare: (copy, br) => {
        if (o.recordRoute) {
          const inbound = ctx.source.transport;
          const outbound = this.#transportFor(br.hop?.protocol ?? uriProtocol(copy)) ?? inbound;
          this.#core.recordRoute(copy, inbound, outbound, rrHost !== undefined ? () => rrHost : undefined);
        }
        // P-KS-* only to SBCs, and the policy's P-KS-Voicemail to the media server (docs/voicemail.md)
        if (!br.hop || !(this.#o.trusted(br.hop.address) || this.#o.voicemail?.isServer(br.hop.address, br.hop.port))) this.#stripPks(copy);
      },
      upstream: (res, br) => {
        if (br?.learnContact && invite && res.status < 200) this.#learnFromResponse(res, br.hop);
        pass(res, br?.hop);
      },
    });
    if (out.kind === 'answered') {
      if (invite && out.branch.learnContact) this.#learnFromResponse(out.res, out.branch.hop);
      pass(out.res, out.branch.hop);
      if (o.newCall) {
        this.#o.metrics?.callFinished(out.res.status);
        this.st.answered++;
      }
      return;
    }
    if (out.kind === 'refused') return; // no accept hook here: never
    this.st.timeouts += out.timeouts;
    const best = out.best;
    if (out.cancelled) {
      if (o.newCall) this.#o.metrics?.callFinished(487);
      this.st.cancelled++;
      if (best && best.status === 487 && !best.local) pass(best.res, undefined);
      else ctx.respond(487, undefined, { toTag: randomToken() });
      return;
    }
    const status = best?.status ?? 480;
    // ---- voicemail: busy, declined, no answer, unreachable ----
    const divert = o.newCall && !o.diverted ? this.#o.voicemail?.reasonFor(status) : undefined;
    if (divert) return this.#toVoicemail(req, ctx, fwd, o.key, divert);
    if (o.newCall) this.#o.metrics?.callFinished(status);
    if (best && !best.local) pass(best.res, undefined);
    else ctx.respond(status, undefined, { toTag: randomToken() });
  }

  /**
   * Voicemail (docs/voicemail.md): the call goes to the media server — a
   * deposit in the callee's mailbox (`reason` set), or a retrieval. The
   * mailbox is the provisioned AoR the Request-URI names; the caller is
   * asserted only when calls are authenticated (the From is then the
   * authenticated identity).
   */
  async #toVoicemail(req: SipRequest, ctx: ServerContext, fwd: SipRequest, key: string | undefined, reason: DivertReason | undefined): Promise<void> {
    const vm = this.#o.voicemail!;
    const target = fwd.requestUri() as SipUri;
    let owner: string | undefined;
    if (reason) {
      const user = unescapeUri(target.user!);
      for (const aor of [`${user}@${target.host.toLowerCase()}`, `${user}@${this.#o.realm.toLowerCase()}`]) {
        if (await this.#isKnown(aor)) {
          owner = aor;
          break;
        }
      }
      if (!owner) return this.#final(ctx, 480, true);
    }
    const caller = this.#o.auth ? aorOfUri(req.from().uri) : undefined;
    const out = vm.divert(fwd, { user: target.user!, ...(owner ? { owner } : {}), ...(reason ? { reason } : {}), caller });
    return this.#relay(req, ctx, out, [this.#branch(undefined, vm.hop(), false)], { key, recordRoute: true, newCall: true, diverted: true });
  }

  /**
   * A branch whose first hop (its binding's SBC, or the top Route) is an instance of the SBC pool:
   * the same request at the other instances when that one answers nothing; a recently silent one last.
   */
  #poolBranch(fwd: SipRequest, br: Branch, pool: SbcPool): Branch {
    const first = br.destination ?? routeHop(fwd);
    if (!first || first.connection) return br;
    const order = pool.order(first.address, first.port, first.protocol ?? 'udp');
    if (!order) return br;
    return { ...br, destination: order[0], alternates: order.slice(1) };
  }

  /**
   * An SBC instance gave no answer: a transport failure, or an INVITE not even answered 100
   * (a live SBC answers 100 at once). A silent non-INVITE (the SBC waits for its terminal
   * without 100) moves on without marking it.
   */
  #sbcDown(pool: SbcPool, d: SendOptions['destination'], why: 'silent' | 'error', method: string): void {
    if (!d || (why === 'silent' && method !== 'INVITE')) return;
    if (pool.markDown(d.address, d.port)) this.#o.logger?.warn({ sbc: `${d.address}:${d.port}`, why }, 'softswitch: SBC instance gave no answer; the next instances of its pool first for a while');
  }

  /** ACK for a 2xx (the stack absorbs those for non-2xx): stateless, by Route or Request-URI. */
  async #ack(req: SipRequest, src: MessageSource): Promise<void> {
    const stack = this.#stack!;
    if (!isSipUri(req.requestUri())) return;
    const checked = this.#core.check(req);
    if (!checked.ok) return;
    const { fwd, remainingRoutes: remaining } = checked;
    // An ACK has no answer to challenge with: from outside the trust domain it must follow a route set we are in.
    const fromSbc = this.#o.trusted(src.address, req);
    if (this.#o.auth && !checked.routedHere && !fromSbc) return;
    // From an SBC's address only the SBC's signed ACK (docs/sip-core-link.md).
    if (this.#o.auth && !fromSbc && this.#o.trusted(src.address)) return;
    // The same rule as any in-dialog request from an SBC (#authorised); an ACK cannot be answered, so it is dropped.
    if (this.#o.auth && fromSbc && toTagOf(req) !== undefined && !this.#assertsParty(req)) {
      this.st.notParty++;
      return;
    }
    const opts: SendOptions = {};
    const hop = remaining > 0 ? undefined : this.#flows.find(fwd.uri);
    if (hop) opts.destination = destinationOf(hop);
    // an SBC instance that recently gave no answer: the ACK to the first live one of its pool
    const first = this.#o.sbcPool && remaining > 0 ? routeHop(fwd) : undefined;
    const live = first ? this.#o.sbcPool!.order(first.address, first.port, first.protocol ?? 'udp')?.[0] : undefined;
    if (live) opts.destination = live;
    if (!hop || !this.#o.trusted(hop.address)) this.#stripPks(fwd);
    this.#o.metrics?.routed('ACK', true);
    await this.#core.forwardStateless(stack, fwd, src, opts);
  }
}

/**
 * q order (RFC 3261 §16.6); among equal q the most recently registered or
 * refreshed binding first. The newest is the one most likely alive: a binding
 * left over from before a restart of the terminal or of its SBC (its flow is
 * gone) is tried after the terminal's fresh one, not before it.
 */
export function byPreference<T extends { q: number; updatedAt: number }>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
}

function destinationOf(h: FlowHop): NonNullable<SendOptions['destination']> {
  const d: NonNullable<SendOptions['destination']> = { address: h.address, port: h.port, protocol: h.protocol };
  if (h.connection && !h.connection.closed) d.connection = h.connection;
  return d;
}

/** Where the top Route sends a request (the stack's rule: maddr or host, the port by transport). */
function routeHop(req: SipRequest): NonNullable<SendOptions['destination']> | undefined {
  try {
    const r = req.routes()[0];
    if (!r || !isSipUri(r.uri)) return undefined;
    const protocol = uriProtocol(req);
    return { address: r.uri.params.maddr ?? r.uri.host, port: r.uri.port ?? defaultPort(protocol), protocol };
  } catch {
    return undefined;
  }
}

/** The transport a request goes out on when sent by its first Route or Request-URI. */
function uriProtocol(req: SipRequest): HopProtocol {
  const route = req.routes()[0];
  const u = route ? route.uri : req.requestUri();
  if (!isSipUri(u)) return 'udp';
  const tp = u.params.transport?.toLowerCase();
  return u.scheme === 'sips' || tp === 'tls' ? 'tls' : tp === 'tcp' ? 'tcp' : 'udp';
}

export type { Hop };
