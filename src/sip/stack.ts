/**
 * The SIP endpoint: ties transports to client and server transactions (RFC 3261 §17, §18).
 * Knows only SIP. A UAC calls send(); a UAS or proxy gets onRequest(req, ctx) and answers
 * with ctx.reply(); a proxy forwards with send() and passes the answer back with
 * ctx.reply(res, { forwarded: true }).
 */
import { isIP } from 'node:net';
import { SipHeaderError } from './headers/lex.js';
import { formatVia, type Via } from './headers/via.js';
import { isSipUri, parseUri, type SipUri } from './headers/uri.js';
import { SipRequest, SipResponse, type SipMessage } from './message.js';
import type { ParseResult, SipParseError } from './parse.js';
import { serialize } from './serialize.js';
import { createResponse, randomToken } from './build.js';
import { ClientTransaction } from './transaction/client.js';
import { ServerTransaction } from './transaction/server.js';
import { newBranch, isRfc3261Branch } from './transaction/branch.js';
import { CompletedAnswer, CompletedClient, CompletedClients, CompletedServers } from './transaction/completed.js';
import { DEFAULT_TIMERS, type TimerConfig } from './transaction/timers.js';
import type { Destination, MessageSource, SipTransport, TransportProtocol } from './transport/types.js';
import type { OnInbound } from './proxy/hooks.js';
import { defaultPort, sentByPort } from './proxy/ports.js';
import { warningValue } from './proxy/warning.js';
import { DEFAULT_MAX_FORWARDS } from './proxy/hops.js';
import { ownString } from './own-string.js';

export interface ServerContext {
  readonly source: MessageSource;
  /** Undefined for an ACK (which has no transaction). */
  readonly transaction: ServerTransaction | undefined;
  /** Set when a CANCEL for this INVITE arrived. */
  cancelled: boolean;
  /**
   * Sends a response through the server transaction (or, for a proxy, statelessly by Via).
   * `forwarded`: the response came from downstream — do not retransmit a 2xx here.
   */
  reply(res: SipResponse, opts?: { forwarded?: boolean }): void;
  /** createResponse + reply in one step; returns the response sent. */
  respond(status: number, reason?: string, opts?: { toTag?: string; headers?: ReadonlyArray<readonly [string, string]>; body?: Buffer }): SipResponse;
  /**
   * Called when a CANCEL matches this INVITE; the stack has answered the CANCEL with 200.
   * Without a listener the stack answers the INVITE 487 itself.
   */
  onCancel(fn: () => void): void;
}

export interface SendOptions {
  /** Where to send; default: the first Route, else the Request-URI (no DNS SRV/NAPTR). */
  destination?: { address: string; port: number; protocol?: TransportProtocol; connection?: Destination['connection'] };
  /** Use this transport instead of choosing one by protocol and address family. */
  transport?: SipTransport;
  /** 1xx, and 2xx after the first final (forked INVITE). */
  onResponse?: (res: SipResponse) => void;
  /** Extra Via parameters for the Via this stack pushes (e.g. an SBC's signature). */
  viaParams?: Record<string, string | null>;
  /** Push no Via: the request already carries ours (CANCEL, built with createCancel from the INVITE we sent). */
  noVia?: boolean;
}

export interface SipStackOptions {
  transports: SipTransport[];
  onRequest: (req: SipRequest, ctx: ServerContext) => void | Promise<void>;
  /** Responses that match no client transaction (e.g. 2xx retransmissions a proxy forwards statelessly). */
  onStrayResponse?: (res: SipResponse, src: MessageSource) => void;
  timers?: Partial<TimerConfig>;
  /** Send 100 Trying as soon as an INVITE arrives. Default true. */
  autoTrying?: boolean;
  /** Host for Warning headers; default the first transport's host. */
  warningAgent?: string;
  /** A request handler threw (answered 500): the role logs it, so that a fault is not silent. */
  onHandlerError?: (err: unknown, req: SipRequest) => void;
  /**
   * Take a CANCEL only from the flow its INVITE came on: the same transport, source address
   * and port. RFC 3261 §9.2 matches a CANCEL by branch and sent-by alone, which anyone who
   * saw the INVITE can copy; with this set, a CANCEL from elsewhere is answered 481 (to its
   * source only, without a transaction, so it cannot shadow the real CANCEL) and counted in
   * `cancelsFromOtherFlow`, and the INVITE goes on. For a side facing untrusted peers (the SBC).
   */
  cancelFromSameFlow?: boolean;
  /**
   * Sees every message that parsed, with its source, before the transaction layer
   * (src/sip/proxy/hooks.ts): a `drop` goes unread, a `reject` of a request is answered
   * to its source only, without a transaction. The one interception point: roles do not
   * wrap a transport's onMessage.
   */
  onInbound?: OnInbound;
  /** Sees a message that did not parse, with its source, before it is answered 400: anything but pass drops it unanswered. */
  onMalformed?: (error: SipParseError, src: MessageSource) => ReturnType<OnInbound>;
}

export interface SipStackStats {
  requestsIn: number;
  responsesIn: number;
  parseErrors: number;
  badRequestsAnswered: number;
  dropped: number;
  strayResponses: number;
  retransmissionsAbsorbed: number;
  /** Messages an onInbound hook dropped or rejected. */
  inboundRefused: number;
  clientTransactions: number;
  serverTransactions: number;
  timeouts: number;
  transportErrors: number;
  handlerErrors: number;
  /** CANCELs refused because they came from another flow than their INVITE (`cancelFromSameFlow`). */
  cancelsFromOtherFlow: number;
}

export interface SipStack {
  readonly transports: readonly SipTransport[];
  /** Sends a request in a client transaction; resolves with the final response (408/503 made up locally on timeout/transport failure). */
  send(req: SipRequest, opts?: SendOptions): Promise<SipResponse>;
  /** Sends without a transaction: a request gets a fresh Via (ACK for 2xx, stateless forwarding); a response goes where its top Via says (RFC 3261 §18.2.2). */
  sendStateless(msg: SipMessage, opts?: SendOptions): Promise<void>;
  stats(): SipStackStats;
  close(): Promise<void>;
}

/**
 * A 2xx to INVITE (a dialog) or to a REGISTER that leaves bindings (a registration, RFC 3261
 * §10.3 step 8 lists them in the 200) makes the connection it went over a flow (RFC 5626),
 * which stream transports keep open longer than a connection that carried neither.
 */
function setsUpFlow(method: string, res: SipResponse): boolean {
  if (res.status < 200 || res.status >= 300) return false;
  if (method === 'INVITE') return true;
  if (method !== 'REGISTER') return false;
  try {
    return res.contacts().length > 0;
  } catch {
    return false;
  }
}

interface Ctx extends ServerContext {
  /** Undefined until a listener is added (most requests never get one). */
  cancelListeners: Array<() => void> | undefined;
}

export function createSipStack(opts: SipStackOptions): SipStack {
  const timers: TimerConfig = { ...DEFAULT_TIMERS, ...opts.timers };
  const transports = opts.transports;
  const autoTrying = opts.autoTrying !== false;
  /** Live client transactions, and the completed non-INVITE ones over UDP (Timer K, kept by `completedClients`). */
  const clients = new Map<string, ClientTransaction | CompletedClient>();
  /** Live server transactions, and the answers of completed non-INVITE ones over UDP (Timer J, kept by `completedServers`). */
  const servers = new Map<string, ServerTransaction | CompletedAnswer>();
  const completedServers = new CompletedServers<ServerTransaction>(servers, 64 * timers.T1);
  /** Completed non-INVITE client transactions over UDP (Timer K, T4). */
  const completedClients = new CompletedClients<ClientTransaction>(clients, timers.T4);
  /** INVITE server transactions whose 2xx awaits an ACK: Call-ID + CSeq number → transaction. */
  const awaitingAck = new Map<string, ServerTransaction>();
  const st = {
    requestsIn: 0, responsesIn: 0, parseErrors: 0, badRequestsAnswered: 0, dropped: 0, strayResponses: 0,
    retransmissionsAbsorbed: 0, inboundRefused: 0, timeouts: 0, transportErrors: 0, handlerErrors: 0, cancelsFromOtherFlow: 0,
  };
  const agent = (): string => opts.warningAgent ?? transports[0]?.host ?? 'keyswitch';

  for (const t of transports) t.onMessage = (r, src) => onMessage(r, src);

  function onMessage(result: ParseResult, src: MessageSource): void {
    try {
      if (!result.ok) {
        if (opts.onMalformed && opts.onMalformed(result.error, src).kind !== 'pass') {
          st.inboundRefused++;
          return;
        }
        return onParseError(result.error, src);
      }
      const m = result.message;
      m.receivedFrom = src;
      if (opts.onInbound) {
        const v = opts.onInbound(m, src);
        if (v.kind !== 'pass') return refuse(m, src, v);
      }
      if (m.isRequest()) onRequest(m, src);
      else onResponse(m as SipResponse, src);
    } catch {
      // nothing from the network may escape into the transport
      st.dropped++;
    }
  }

  /** An onInbound refusal: a rejected request is answered to its source only; nothing else is sent. */
  function refuse(m: SipMessage, src: MessageSource, v: Exclude<ReturnType<OnInbound>, { kind: 'pass' }>): void {
    st.inboundRefused++;
    if (v.kind === 'drop' || !m.isRequest() || m.method === 'ACK') return;
    const dest = sourceOnly(src);
    if (!dest) return;
    const headers: Array<[string, string]> = v.retryAfter !== undefined ? [['Retry-After', String(Math.max(0, Math.floor(v.retryAfter)))]] : [];
    stampVia(m, src);
    const res = createResponse(m, v.status, v.reason, { headers });
    src.transport.send(serialize(res), dest).catch(() => st.transportErrors++);
  }

  function warning(e: { header: string; reason: string }): string {
    return warningValue(agent(), `Bad ${e.header}: ${e.reason}`);
  }

  /**
   * A request that failed to parse is answered 400 (505/513 where apt) when its Via, From,
   * To, Call-ID and CSeq can be copied, and only to the packet's source: the datagram's
   * address and port, or the connection it came on. Nothing in it (a Via naming another
   * host, a name to resolve) decides where the answer goes; anything else is dropped.
   */
  function onParseError(e: SipParseError, src: MessageSource): void {
    st.parseErrors++;
    const p = e.partial;
    if (!p || !p.isRequest() || p.method === 'ACK' || !p.has('via')) {
      st.dropped++;
      return;
    }
    const dest = sourceOnly(src);
    if (!dest) {
      st.dropped++;
      return;
    }
    const res = createResponse(p, e.status, e.status === 400 ? `Bad ${e.header}` : undefined, { headers: [['Warning', warning(e)]] });
    st.badRequestsAnswered++;
    src.transport.send(serialize(res), dest).catch(() => st.transportErrors++);
  }

  /** The packet's source: a datagram's address and port, or the connection while it is open. */
  function sourceOnly(src: MessageSource): Destination | undefined {
    if (!src.transport.reliable) return { address: src.address, port: src.port };
    if (src.connection && !src.connection.closed) return { address: src.address, port: src.port, connection: src.connection };
    return undefined;
  }

  /** RFC 3261 §18.2.1 and RFC 3581: record where the request really came from. */
  function stampVia(req: SipRequest, src: MessageSource): Via {
    const via = req.topVia()!;
    const rport = 'rport' in via.params;
    if (via.host !== src.address || rport) {
      via.params.received = src.address;
      if (rport) via.params.rport = String(src.port);
      req.setTopVia(via);
    }
    return via;
  }

  function serverKey(via: Via, method: string): string {
    const m = method === 'ACK' ? 'INVITE' : method;
    return via.params.branch + '|' + via.host.toLowerCase() + ':' + (via.port ?? '') + '|' + m;
  }

  function rfc2543Key(req: SipRequest, via: Via): string {
    // RFC 3261 §17.2.3 fallback, for peers that do not send the magic cookie
    const m = req.method === 'ACK' ? 'INVITE' : req.method;
    return '2543|' + req.callId() + '|' + req.cseq().seq + '|' + (req.from().params.tag ?? '') + '|' + formatVia(via) + '|' + m;
  }

  function onRequest(req: SipRequest, src: MessageSource): void {
    st.requestsIn++;
    const via = stampVia(req, src);
    const key = isRfc3261Branch(via.params.branch) ? serverKey(via, req.method) : rfc2543Key(req, via);
    if (req.method === 'ACK') {
      const tx = liveServer(key);
      if (tx && tx.state !== 'accepted') {
        st.retransmissionsAbsorbed++;
        tx.receiveAck();
        return;
      }
      const waiting = awaitingAck.get(req.callId() + '|' + req.cseq().seq);
      waiting?.ackReceived();
      deliver(req, src, undefined);
      return;
    }
    const existing = servers.get(key);
    if (existing instanceof ServerTransaction) {
      st.retransmissionsAbsorbed++;
      existing.receiveRetransmission();
      return;
    }
    if (existing && completedServers.live(existing)) {
      st.retransmissionsAbsorbed++;
      existing.transport.send(existing.bytes(), existing.dest).catch(() => st.transportErrors++);
      return;
    }
    if (req.method === 'CANCEL' && opts.cancelFromSameFlow && !cancelFromInviteFlow(req, src, via)) {
      st.cancelsFromOtherFlow++;
      const dest = sourceOnly(src);
      if (dest) src.transport.send(serialize(createResponse(req, 481)), dest).catch(() => st.transportErrors++);
      return;
    }
    // a string of its own: the branch is a slice of the header text, which Timer J (32 s over UDP) would keep
    const own = ownString(key);
    const tx: ServerTransaction = new ServerTransaction(own, req, responder(src, via), timers, () => {
      // a completed non-INVITE over UDP has left its answer under the same key (completed.ts)
      if (servers.get(own) === tx) servers.delete(own);
    });
    servers.set(own, tx);
    if (req.method === 'CANCEL') return onCancel(req, src, via, tx);
    if (tx.isInvite && autoTrying) tx.respond(createResponse(req, 100));
    deliver(req, src, tx);
  }

  function cancelTarget(req: SipRequest, via: Via): ServerTransaction | undefined {
    return liveServer(isRfc3261Branch(via.params.branch) ? serverKey(via, 'INVITE') : rfc2543Key(req, via).replace(/\|CANCEL$/, '|INVITE'));
  }

  function liveServer(key: string): ServerTransaction | undefined {
    const v = servers.get(key);
    return v instanceof ServerTransaction ? v : undefined;
  }

  /** Whether a CANCEL that matches an INVITE came over the same transport from the same address and port (none matching: true, it gets its 481). */
  function cancelFromInviteFlow(req: SipRequest, src: MessageSource, via: Via): boolean {
    const target = cancelTarget(req, via);
    if (!target) return true;
    const from = (target.context as Ctx | undefined)?.source;
    return from !== undefined && from.transport === src.transport && from.address === src.address && from.port === src.port;
  }

  function onCancel(req: SipRequest, src: MessageSource, via: Via, tx: ServerTransaction): void {
    const target = cancelTarget(req, via);
    if (!target) {
      tx.respond(createResponse(req, 481));
      return;
    }
    tx.respond(createResponse(req, 200));
    const ctx = target.context as Ctx | undefined;
    if (!ctx || target.answered) return;
    ctx.cancelled = true;
    const listeners = ctx.cancelListeners;
    if (listeners === undefined || listeners.length === 0) {
      ctx.reply(createResponse(target.request, 487, undefined, { toTag: randomToken() }));
      return;
    }
    for (const fn of listeners) {
      try {
        fn();
      } catch {
        st.handlerErrors++;
      }
    }
  }

  /**
   * The handler's context for one request: a class, so that its methods are the prototype's
   * and a request costs one object, not an object, three closures and a listener array.
   */
  class Context implements Ctx {
    cancelled = false;
    cancelListeners: Array<() => void> | undefined = undefined;
    constructor(
      readonly req: SipRequest,
      readonly source: MessageSource,
      readonly transaction: ServerTransaction | undefined,
    ) {}

    reply(res: SipResponse, o?: { forwarded?: boolean }): void {
      const tx = this.transaction;
      if (!tx) return;
      const req = this.req;
      const src = this.source;
      const retransmit = !o?.forwarded && req.method === 'INVITE';
      const sent = tx.respond(res, retransmit);
      if (sent && src.connection && setsUpFlow(req.method, res)) src.connection.markFlow();
      // a completed non-INVITE transaction outlives its handler by Timer J; the context
      // (and the request it holds) must not live as long
      if (sent && !tx.isInvite && res.status >= 200) tx.context = undefined;
      if (sent && retransmit && res.status >= 200 && res.status < 300) {
        const k = req.callId() + '|' + req.cseq().seq;
        awaitingAck.set(k, tx);
        tx.onTerminate(() => {
          if (awaitingAck.get(k) === tx) awaitingAck.delete(k);
        });
      }
    }

    respond(status: number, reason?: string, o?: Parameters<ServerContext['respond']>[2]): SipResponse {
      const res = createResponse(this.req, status, reason, o);
      this.reply(res);
      return res;
    }

    onCancel(fn: () => void): void {
      (this.cancelListeners ??= []).push(fn);
    }

    /** The handler threw or its promise rejected: 400 for a header it could not read, else 500. */
    fail(e: unknown): void {
      st.handlerErrors++;
      const req = this.req;
      if (!(e instanceof SipHeaderError)) opts.onHandlerError?.(e, req);
      const tx = this.transaction;
      if (!tx || tx.answered) return;
      if (e instanceof SipHeaderError) {
        this.reply(createResponse(req, 400, `Bad ${e.header}`, { headers: [['Warning', warning({ header: e.header, reason: e.detail })]] }));
      } else this.reply(createResponse(req, 500));
    }
  }

  function deliver(req: SipRequest, src: MessageSource, tx: ServerTransaction | undefined): void {
    const ctx = new Context(req, src, tx);
    if (tx) tx.context = ctx;
    try {
      const r = opts.onRequest(req, ctx);
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch((e: unknown) => ctx.fail(e));
    } catch (e) {
      ctx.fail(e);
    }
  }

  function onResponse(res: SipResponse, src: MessageSource): void {
    st.responsesIn++;
    if (src.connection && setsUpFlow(res.cseq().method, res)) src.connection.markFlow();
    const via = res.topVia()!;
    const key = via.params.branch + '|' + res.cseq().method;
    const tx = clients.get(key);
    if (tx instanceof ClientTransaction) {
      tx.receive(res);
      return;
    }
    // a retransmitted final of a completed non-INVITE transaction: absorbed, told to nobody (Timer K)
    if (tx !== undefined && completedClients.live(tx)) return;
    st.strayResponses++;
    opts.onStrayResponse?.(res, src);
  }

  function responder(src: MessageSource, via: Via): Responder {
    return new Responder(src.transport, responseDestination(src, via), completedServers);
  }

  /**
   * Where a response goes. Over UDP to the address and port the request came from, whether
   * or not the Via asked for rport (RFC 3581 §4 behaviour for everyone): a Via's sent-by
   * never sends an answer to another host or port. Over a stream back on the connection;
   * when that has closed, a new one to the source address at the Via's port (RFC 3261
   * §18.2.2) — never to the Via's host, which is never resolved.
   */
  function responseDestination(src: MessageSource, via: Via): Destination {
    if (!src.transport.reliable) return { address: src.address, port: src.port };
    if (src.connection && !src.connection.closed) return { address: src.address, port: src.port, connection: src.connection };
    return { address: src.address, port: sentByPort(via) };
  }

  /**
   * The TU's side of one client transaction sent by send(): a class, so that a request costs
   * one object, not an events object and three closures. It holds the key and the promise's
   * resolve only; the transaction lets go of it when it completes (client.ts #release), and a
   * completed one waits out Timer K as its key in the table (completed.ts).
   */
  class Waiting {
    #done = false;
    constructor(
      readonly key: string,
      readonly reliable: boolean,
      readonly resolve: (res: SipResponse) => void,
      readonly provisional: ((res: SipResponse) => void) | undefined,
    ) {}

    onResponse(res: SipResponse): void {
      if (!this.#done && res.status >= 200) {
        this.#done = true;
        if (res.localReason === 'timeout') st.timeouts++;
        if (res.localReason === 'transport') st.transportErrors++;
        this.resolve(res);
      } else this.provisional?.(res);
    }

    onTerminated(): void {
      clients.delete(this.key);
    }

    /** A non-INVITE transaction with its final: Timer K in the table (UDP), or over at once (stream). */
    onCompleted(): void {
      // over UDP the entry stays, as the table's (one update of the map, not a delete and an insert elsewhere)
      if (this.reliable) clients.delete(this.key);
      else completedClients.add(this.key);
    }
  }

  function pickTransport(protocol: TransportProtocol, address: string): SipTransport {
    const fam = isIP(address) === 6 ? 'IPv6' : isIP(address) === 4 ? 'IPv4' : undefined;
    const t = transports.find((x) => x.protocol === protocol && (!fam || x.family === fam)) ?? transports.find((x) => x.protocol === protocol);
    if (!t) throw new Error(`no ${protocol} transport`);
    return t;
  }

  function nextHop(req: SipRequest, o: SendOptions): { transport: SipTransport; dest: Destination } {
    if (o.destination) {
      const d = o.destination;
      const transport = o.transport ?? pickTransport(d.protocol ?? 'udp', d.address);
      return { transport, dest: d.connection ? { address: d.address, port: d.port, connection: d.connection } : { address: d.address, port: d.port } };
    }
    const route = req.list('route')[0];
    let uri: SipUri;
    const target = route ? parseUri(route.replace(/^[^<]*<([^>]*)>.*$/, '$1'), 'Route') : req.requestUri();
    if (!isSipUri(target)) throw new Error('cannot route to a non-SIP URI');
    uri = target;
    const maddr = uri.params.maddr;
    const tp = uri.params.transport?.toLowerCase();
    const protocol: TransportProtocol = uri.scheme === 'sips' || tp === 'tls' ? 'tls' : tp === 'tcp' ? 'tcp' : 'udp';
    const address = maddr ?? uri.host;
    const transport = o.transport ?? pickTransport(protocol, address);
    return { transport, dest: { address, port: uri.port ?? defaultPort(protocol) } };
  }

  function pushVia(req: SipRequest, transport: SipTransport, o: SendOptions): string {
    const branch = newBranch();
    const params: Record<string, string | null> = {};
    params.branch = branch;
    if (transport.protocol === 'udp') params.rport = null;
    if (o.viaParams) Object.assign(params, o.viaParams);
    // A client-only stream transport listens nowhere: its answers come back over the connection (RFC 3261 §18.2.2),
    // and a sent-by of ":0" would make the request unparsable.
    const v: Via = transport.port
      ? { protocol: 'SIP/2.0', transport: transport.protocol.toUpperCase(), host: transport.host, port: transport.port, params }
      : { protocol: 'SIP/2.0', transport: transport.protocol.toUpperCase(), host: transport.host || 'client.invalid', params };
    req.prepend('Via', formatVia(v));
    if (req.maxForwards() === undefined) req.set('Max-Forwards', String(DEFAULT_MAX_FORWARDS));
    return branch;
  }

  return {
    transports,
    send(req, o = {}) {
      let hop: { transport: SipTransport; dest: Destination };
      try {
        hop = nextHop(req, o);
      } catch (e) {
        return Promise.reject(e);
      }
      const branch = o.noVia ? String(req.topVia()?.params.branch) : pushVia(req, hop.transport, o);
      const key = branch + '|' + req.method;
      return new Promise<SipResponse>((resolve) => {
        const tx = new ClientTransaction(key, req, new HopSender(hop.transport, hop.dest), timers, new Waiting(key, hop.transport.reliable, resolve, o.onResponse));
        clients.set(key, tx);
        tx.start();
        // §9.1: the INVITE this CANCEL is for is given 64·T1 more for its final, then destroyed; a
        // next hop that rang and ignores the CANCEL would otherwise hold its transaction forever
        if (req.method === 'CANCEL') {
          const invite = clients.get(branch + '|INVITE');
          if (invite instanceof ClientTransaction) invite.cancelSent();
        }
      });
    },
    async sendStateless(msg, o = {}) {
      if (msg.isRequest()) {
        const hop = nextHop(msg, o);
        if (!o.noVia) pushVia(msg, hop.transport, o);
        await hop.transport.send(serialize(msg), hop.dest);
        return;
      }
      const res = msg as SipResponse;
      const via = res.topVia();
      if (!via) throw new Error('response without Via');
      const protocol = via.transport.toLowerCase() as TransportProtocol;
      const dest: Destination = o.destination ?? {
        address: via.params.received ?? via.host,
        port: via.params.rport ? Number(via.params.rport) : via.port ?? defaultPort(protocol),
      };
      // a Via of a request we received carries `received` whenever its host is not the source
      // address; a name here came from nobody we heard, and is not looked up
      if (isIP(dest.address) === 0) throw new Error('response Via names no address');
      const transport = o.transport ?? pickTransport(protocol === 'tcp' || protocol === 'tls' ? protocol : 'udp', dest.address);
      await transport.send(serialize(res), dest);
    },
    stats() {
      return { ...st, clientTransactions: clients.size, serverTransactions: servers.size };
    },
    async close() {
      for (const t of [...clients.values()]) if (t instanceof ClientTransaction) t.terminate();
      completedServers.clear();
      for (const t of [...servers.values()]) if (t instanceof ServerTransaction) t.terminate();
      completedClients.clear();
      await Promise.all(transports.map((t) => t.close()));
    },
  };
}

/** A client transaction's next hop, without a closure per request. */
class HopSender {
  constructor(readonly transport: SipTransport, readonly dest: Destination) {}

  get reliable(): boolean {
    return this.transport.reliable;
  }

  send(b: Buffer): Promise<void> {
    return this.transport.send(b, this.dest);
  }

  /** send() without a promise when the transport can (SipTransport.post). */
  post(b: Buffer, done: (err: Error | null) => void): void {
    const t = this.transport;
    if (t.post) t.post(b, this.dest, done);
    else t.send(b, this.dest).then(() => done(null), (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
  }
}

/** Where a server transaction's answers go; hands the transaction to the completed table when it is done (server.ts keep). */
class Responder extends HopSender {
  constructor(transport: SipTransport, dest: Destination, readonly table: CompletedServers<ServerTransaction>) {
    super(transport, dest);
  }

  keep(key: string, bytes: Buffer): void {
    this.table.add(key, bytes, this.transport, this.dest);
  }
}
