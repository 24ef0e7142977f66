/**
 * Calls through the SBC (docs/sbc-calls.md): requests other than REGISTER in
 * both directions, with the header signing of docs/design.md on the untrusted side.
 *
 * The SBC record-routes twice per leg (RFC 5658): an entry facing the
 * terminals (`U`, the untrusted listener's address) and one facing the core
 * (`T`, the trusted link's address), so that in-dialog requests from either
 * side come back to the right interface. A dialog through one SBC for both
 * parties has the Record-Route set [U2, T2, softswitch, T1, U1]; the callee's
 * route-set signature (`ks-rsb`) sits on U2, the caller's (`ks-rsa`) on U1.
 *
 * Untrusted → core, out of a dialog: mechanism check of the From identity
 * (sip-guard); any preloaded Route removed. In a dialog: a valid route-set
 * signature in the top Route (else 403, counted against the source), which
 * names the party owning the sender's side; the request must come from that
 * party — its app-hmac tag, TLS-PSK or TLS connection, or for a Digest phone
 * the flow that set the dialog up — whatever its From (else 403); our own
 * Route entries popped; the party's identity asserted to the core.
 * Core → untrusted: the Request-URI is a Contact a terminal registered
 * through us; the request goes on that terminal's flow under its mechanism,
 * with our Via signed (`ks-vs`) and, for a dialog-forming INVITE, our
 * Record-Route signed (`ks-rr`, `ks-rsb` with the callee's party in
 * `ks-pb`). Responses coming back are checked: Via signature (before the
 * transaction layer sees them, in run.ts), app-hmac tag of the terminal,
 * Record-Route signature; the caller's route set is signed with its party
 * (`ks-rsa`, `ks-pa`) on the way to it.
 */
import { signSipMessage, verifySipMessage, KS_HMAC } from '../adapters/sip/sbc-app-hmac.js';
import { P_KS_AUTH, P_KS_IDSP, stripPrivate } from '../adapters/sip/ks1-sip.js';
import {
  createCancel, createResponse, formatVia, isSipUri, newBranch, randomToken,
  type MessageSource, type ServerContext, type SipRequest, type SipResponse, type SipStack, type SipTransport, type Uri, type Via,
} from '../sip/index.js';
import { PARAM, type HeaderSigner } from './signing/sip-signatures.js';
import { flowOf, flowParty, ks1Party, sameFlow, type DialogParty, type DialogTable } from './dialogs.js';
import { identityOfUri, sameIdentity } from '../sip/uri-compare.js';
import type { ContactMap, TerminalFlow } from './sip-contacts.js';
import type { SbcMetrics } from './sip-metrics.js';
import type { RegisteredTerminal } from './sessions.js';
import { P_ASSERTED_IDENTITY, type SbcSipProxy } from './sip-proxy.js';

export interface CallCounters {
  callsOut: number;
  callsIn: number;
  answered: number;
  routeSetRefused: number;
  /** In-dialog requests with a valid route set from someone other than its party. */
  notParty: number;
  responsesDropped: number;
  noRoute: number;
}

export interface SbcCallsDeps {
  proxy: SbcSipProxy;
  /** The untrusted stack (requests towards terminals). */
  untrusted: () => SipStack;
  /** null: signing off (benchmarks, labs without a key store). */
  signer: HeaderSigner | null;
  contacts: ContactMap;
  dialogs: DialogTable;
  /** `host:port` (lower-case host) of every address that is this SBC or its pool. */
  own: ReadonlySet<string>;
  /** Our Record-Route URI facing terminals on this transport. */
  untrustedRr(t: SipTransport): string;
  /** Our Record-Route URI facing the core. */
  coreRr: string;
  metrics?: SbcMetrics | undefined;
  /** Where a response from the untrusted side came from (recorded before the transaction layer). */
  sourceOf(res: SipResponse): MessageSource | undefined;
}

export function hostPortKey(host: string, port: number | undefined, protocol = 'udp'): string {
  return `${host.toLowerCase()}:${port ?? (protocol === 'tls' ? 5061 : 5060)}`;
}

function toTag(m: SipRequest | SipResponse): string | undefined {
  const t = m.to().params.tag;
  return typeof t === 'string' && t !== '' ? t : undefined;
}

function fromTag(m: SipRequest | SipResponse): string {
  const t = m.from().params.tag;
  return typeof t === 'string' ? t : '';
}

export class SbcCalls {
  readonly counters: CallCounters = { callsOut: 0, callsIn: 0, answered: 0, routeSetRefused: 0, notParty: 0, responsesDropped: 0, noRoute: 0 };

  constructor(readonly d: SbcCallsDeps) {}

  #isOwn(u: Uri): boolean {
    if (!isSipUri(u)) return false;
    const tp = u.scheme === 'sips' || u.params.transport?.toLowerCase() === 'tls' ? 'tls' : 'udp';
    return this.d.own.has(hostPortKey(u.host, u.port, tp));
  }

  /** Removes the Route entries naming this SBC (or its pool) from the top. */
  #popOwnRoutes(m: SipRequest): void {
    for (let i = 0; i < 8; i++) {
      const r = m.routes()[0];
      if (!r || !this.#isOwn(r.uri)) return;
      m.shift('Route');
    }
  }

  // ---- from a terminal -----------------------------------------------------

  /**
   * A request (not REGISTER, not an OPTIONS for the SBC) from the untrusted
   * side, out of any dialog, that passed the mechanism check of its From
   * identity; the KS-HMAC line is already gone.
   */
  async fromTerminal(req: SipRequest, ctx: ServerContext, rec: RegisteredTerminal | undefined): Promise<void> {
    if (rec) this.d.contacts.seen(rec.idc, ctx.source);
    const fwd = req.clone();
    fwd.remove('Route'); // a preloaded route from the untrusted side is not followed
    // Who owns the caller's side if this forms a dialog: a KS1 terminal by its
    // IDc; a Digest phone (the softswitch authenticates the INVITE) by its AoR and this flow.
    const fromId = identityOfUri(req.from().uri);
    const party = rec ? ks1Party(rec.idc) : fromId !== undefined ? flowParty(fromId, ctx.source) : undefined;
    return this.#toCore(req, fwd, ctx, rec, { inDialog: false, party, idc: rec?.idc, assert: rec ? rec.session.mechanism : undefined });
  }

  /**
   * An in-dialog request from the untrusted side (To tag), as received. The
   * route-set signature names the party owning the sender's side (with
   * signing off, the local dialog record does); the request must come from
   * that party by its own mechanism or flow, whatever its From. Anything
   * else: 403 (ACK: dropped), counted against the source.
   */
  async fromTerminalInDialog(req: SipRequest, ctx: ServerContext): Promise<void> {
    const p = this.d.proxy;
    const src = ctx.source;
    let party: DialogParty | undefined;
    if (this.d.signer) {
      const v = this.d.signer.verifyInDialogRequest(req, src.address);
      if (!v.ok) {
        this.counters.routeSetRefused++;
        return p.refuse(ctx, req, 'signature', `route-set signature ${v.reason}`);
      }
      party = v.party;
    } else {
      party = this.d.dialogs.partyOf(req.callId(), fromTag(req), toTag(req)!);
      if (!party) {
        this.counters.routeSetRefused++;
        return p.refuse(ctx, req, 'signature', 'no such dialog here');
      }
    }
    let rec: RegisteredTerminal | undefined;
    if (party.flow) {
      // A Digest phone has no key: its flow is what it proved when it set the dialog up.
      if (!sameFlow(party.flow, flowOf(src))) return this.#notParty(ctx, req, 'transport-binding', 'not from the flow that set up the dialog');
    } else {
      const g = p.d.guard.checkParty(req, src, party.idc);
      if (!g.ok) return this.#notParty(ctx, req, g.kind, g.warning);
      rec = g.rec!;
      this.d.contacts.seen(rec.idc, src);
    }
    req.remove(KS_HMAC);
    const fwd = req.clone();
    this.#popOwnRoutes(fwd);
    return this.#toCore(req, fwd, ctx, rec, { inDialog: true, party, idc: party.idc, assert: rec ? rec.session.mechanism : 'digest-flow' });
  }

  /**
   * A valid route set presented by someone else than its party. The Warning
   * says no more than that (the detail goes to the log); the answer is not
   * signed under the party's key: it is not the party we answer.
   */
  #notParty(ctx: ServerContext, req: SipRequest, kind: 'app-hmac' | 'transport-binding', why: string): void {
    this.counters.notParty++;
    this.d.signer?.reportFailure(ctx.source.address, 'dialog-party', 'not-party');
    this.d.proxy.d.logger?.warn({ source: `${ctx.source.address}:${ctx.source.port}`, method: req.method, why }, 'sbc: in-dialog request not from the dialog party');
    this.d.proxy.refuse(ctx, req, kind, 'not sent by the party of this dialog');
  }

  /**
   * On to the softswitch. `assert`: the mechanism (or `digest-flow`) by which
   * the sender was proved to be `idc` — then `P-KS-Auth` and
   * `P-Asserted-Identity` say so; out of a dialog only KS1 terminals are
   * asserted (Digest phones answer the softswitch's 407).
   */
  async #toCore(
    req: SipRequest, fwd: SipRequest, ctx: ServerContext, rec: RegisteredTerminal | undefined,
    o: { inDialog: boolean; party: DialogParty | undefined; idc: string | undefined; assert: string | undefined },
  ): Promise<void> {
    const p = this.d.proxy;
    fwd.set(P_KS_IDSP, p.d.idsp);
    if (o.assert !== undefined && o.idc !== undefined) {
      fwd.set(P_KS_AUTH, `mechanism=${o.assert}`);
      fwd.set(P_ASSERTED_IDENTITY, `<sip:${o.idc}>`);
    }
    if (req.method === 'ACK') return this.#ackToCore(fwd);

    const forming = req.method === 'INVITE' && !o.inDialog;
    let rrBelow = 0;
    if (forming) {
      rrBelow = req.recordRoutes().length;
      fwd.prepend('Record-Route', this.d.untrustedRr(ctx.source.transport));
      fwd.prepend('Record-Route', this.d.coreRr);
      this.counters.callsOut++;
    }
    if (req.method === 'INVITE') {
      p.reply(ctx, createResponse(req, 100), rec);
      ctx.onCancel(() => {
        p.d.core.stack.send(createCancel(fwd), { ...p.coreDest(), noVia: true }).catch(() => undefined);
      });
    }
    const caller = forming ? o.party : undefined;
    const res = await p.forward(fwd, ctx, rec, (r) => this.#towardsCaller(r, caller, rrBelow));
    this.#finished(req, res, forming, 'from-terminal', o.party);
    p.reply(ctx, res, rec);
  }

  /** A dialog-forming answer on its way to our caller (`caller` set): sign the caller's route set and party on U1. */
  #towardsCaller(res: SipResponse, caller: DialogParty | undefined, rrBelow: number): void {
    if (!caller || !this.d.signer || res.status <= 100 || res.status >= 300) return;
    try {
      const n = res.recordRoutes().length;
      if (n <= rrBelow || toTag(res) === undefined) return;
      this.d.signer.signCallerRouteSet(res, caller, n - 1 - rrBelow);
    } catch {
      // an answer from the core whose Record-Route or Contact does not parse goes on unsigned: the caller cannot use the dialog
    }
  }

  #ackToCore(fwd: SipRequest): void {
    const p = this.d.proxy;
    const mf = fwd.maxForwards() ?? 70;
    if (mf <= 0) return;
    fwd.set('Max-Forwards', String(mf - 1));
    p.counters.forwarded++;
    p.d.core.stack.sendStateless(fwd, p.coreDest()).catch(() => undefined);
  }

  #finished(req: SipRequest, res: SipResponse, forming: boolean, leg: 'from-terminal' | 'to-terminal', party: DialogParty | undefined): void {
    if (forming) {
      const ok = res.status >= 200 && res.status < 300;
      const result = ok ? 'answered' : res.status === 487 ? 'cancelled' : 'failed';
      this.d.metrics?.calls.inc({ leg, result });
      const callee = toTag(res);
      if (ok && callee) {
        this.counters.answered++;
        this.d.dialogs.open({
          callId: req.callId(), callerTag: fromTag(req), calleeTag: callee, direction: leg === 'from-terminal' ? 'outbound' : 'inbound',
          ...(party ? (leg === 'from-terminal' ? { caller: party } : { callee: party }) : {}),
        });
      }
    } else if (req.method === 'BYE' && res.status >= 200 && res.status < 300) {
      const t = toTag(req);
      if (t) this.d.dialogs.close(req.callId(), fromTag(req), t);
    }
  }

  // ---- from the core -------------------------------------------------------

  /** A request from the softswitch towards a terminal registered through us. */
  async fromCore(req: SipRequest, ctx: ServerContext): Promise<void> {
    const p = this.d.proxy;
    const fwd = req.clone();
    this.#popOwnRoutes(fwd);
    stripPrivate(fwd);
    fwd.remove(KS_HMAC);
    let target: Uri;
    try {
      target = fwd.requestUri();
    } catch {
      if (req.method !== 'ACK') ctx.respond(400, 'Bad Request-URI');
      return;
    }
    const idc = this.d.contacts.lookup(target);
    const rec = idc !== undefined ? p.d.guard.session(idc) : undefined;
    const flow = idc !== undefined ? this.#usableFlow(idc, rec) : undefined;
    if (!idc || !flow) {
      this.counters.noRoute++;
      if (req.method === 'ACK') return;
      const why = !idc ? 'no terminal registered at this Contact' : 'the terminal has no usable connection';
      ctx.respond(!idc ? 404 : 480, undefined, { toTag: randomToken(), headers: [['Warning', `399 ${p.d.idsp} "${why}"`]] });
      return;
    }
    const mf = fwd.maxForwards() ?? 70;
    if (mf <= 0) {
      if (req.method !== 'ACK') ctx.respond(483);
      return;
    }
    fwd.set('Max-Forwards', String(mf - 1));
    // RFC 3261 §16.2: the core learns at once that this hop is alive and works on it, so its
    // no-answer timer (which moves on from a dead SBC address) never fires while a phone is slow to ring.
    if (req.method === 'INVITE') ctx.reply(createResponse(req, 100));
    const forming = req.method === 'INVITE' && toTag(req) === undefined;
    // The callee's side belongs to the terminal we deliver to: a KS1 terminal by its IDc; a Digest
    // phone by the AoR it registered and the flow it registered from (where this INVITE goes).
    const callee = rec ? ks1Party(rec.idc) : flowParty(idc, { protocol: flow.transport.protocol, address: flow.address, port: flow.port });
    let rrBelow = 0;
    if (forming) {
      rrBelow = fwd.recordRoutes().length;
      fwd.prepend('Record-Route', this.d.coreRr);
      fwd.prepend('Record-Route', this.d.untrustedRr(flow.transport));
      this.d.signer?.signRecordRoute(fwd, callee, 0);
      this.counters.callsIn++;
    }
    this.#pushVia(fwd, flow.transport, req.method !== 'ACK');
    if (rec?.session.mechanism === 'app-hmac' && rec.downlink) signSipMessage(fwd, rec.downlink);
    const dest = {
      destination: { address: flow.address, port: flow.port, protocol: flow.transport.protocol, ...(flow.connection ? { connection: flow.connection } : {}) },
      transport: flow.transport,
      noVia: true,
    };
    const u = this.d.untrusted();
    p.counters.forwarded++;
    if (req.method === 'ACK') {
      u.sendStateless(fwd, dest).catch(() => undefined);
      return;
    }
    if (req.method === 'INVITE') {
      ctx.onCancel(() => {
        const c = createCancel(fwd);
        if (rec?.session.mechanism === 'app-hmac' && rec.downlink) signSipMessage(c, rec.downlink);
        u.send(c, dest).catch(() => undefined);
      });
    }
    const res = await u.send(fwd, {
      ...dest,
      onResponse: (r) => {
        // 100 is hop by hop (never forwarded, so never checked); a 2xx here is a retransmission of the final one
        if (r.status <= 100 || r.status >= 200) return;
        if (!this.#checkAnswer(r, rec, forming, rrBelow)) return;
        this.#towardsCore(r);
        ctx.reply(r, { forwarded: true });
      },
    });
    let out = res;
    if (!res.localReason && !this.#checkAnswer(res, rec, forming, rrBelow)) {
      out = createResponse(req, 502, 'Bad Gateway', { toTag: randomToken(), headers: [['Warning', `399 ${p.d.idsp} "the terminal's answer failed its checks"`]] });
    } else this.#towardsCore(res);
    this.#finished(req, out, forming, 'to-terminal', callee);
    ctx.reply(out, { forwarded: true });
  }

  /** The flow a request to `idc` must take: its mechanism's connection, else where it last spoke from. */
  #usableFlow(idc: string, rec: RegisteredTerminal | undefined): TerminalFlow | undefined {
    const f = this.d.contacts.flow(idc);
    if (!f) return undefined;
    if (f.connection?.closed) return undefined;
    const mech = rec?.session.mechanism;
    if (mech === 'tls-psk' && (f.transport.protocol !== 'tls' || !sameIdentity(f.pskIdentity, idc))) return undefined;
    if (mech === 'tls' && (f.transport.protocol !== 'tls' || f.pskIdentity !== undefined)) return undefined;
    return f;
  }

  /** Our Via, signed for the untrusted link (the signature covers the Vias below it). */
  #pushVia(fwd: SipRequest, t: SipTransport, sign: boolean): void {
    const params: Via['params'] = { branch: newBranch() };
    if (t.protocol === 'udp') params.rport = null;
    if (sign && this.d.signer) params[PARAM.via] = this.d.signer.viaSignature(fwd);
    fwd.prepend('Via', formatVia({ protocol: 'SIP/2.0', transport: t.protocol.toUpperCase(), host: t.host, port: t.port, params }));
  }

  /**
   * A response from a terminal (its Via signature already checked): the
   * terminal's app-hmac tag, its TLS-PSK connection, and for a dialog-forming
   * INVITE our Record-Route signature. False: drop it (counted).
   */
  #checkAnswer(res: SipResponse, rec: RegisteredTerminal | undefined, forming: boolean, rrBelow: number): boolean {
    const src = this.d.sourceOf(res)?.address;
    if (rec?.session.mechanism === 'app-hmac' && rec.uplink) {
      const v = verifySipMessage(res, rec.uplink);
      if (v !== 'ok') return this.#drop(src, 'app-hmac', `answer KS-HMAC ${v}`);
    }
    if (forming && this.d.signer && res.status < 300 && toTag(res) !== undefined) {
      // Our entry: the topmost one of ours carrying a Record-Route signature
      // (entries the callee added sit above it; anything changed below it breaks the signature).
      let index = 0;
      try {
        const rr = res.recordRoutes();
        const mine = rr.findIndex((n) => this.#isOwn(n.uri) && isSipUri(n.uri) && PARAM.rr in n.uri.params);
        index = mine >= 0 ? mine : Math.max(0, rr.length - rrBelow - 2);
      } catch {
        index = 0;
      }
      const v = this.d.signer.verifyRecordRoute(res, src, index);
      if (!v.ok) return this.#drop(src, 'signature', `record-route signature ${v.reason}`);
    }
    return true;
  }

  #drop(source: string | undefined, kind: 'app-hmac' | 'signature', why: string): boolean {
    const p = this.d.proxy;
    this.counters.responsesDropped++;
    if (source !== undefined) p.d.failures.count(source, kind);
    p.d.logger?.info({ source, why }, 'sbc: answer from a terminal dropped');
    return false;
  }

  /** On its way to the core: our Via and the terminal's tag go. */
  #towardsCore(res: SipResponse): void {
    res.shift('Via');
    res.remove(KS_HMAC);
    stripPrivate(res);
  }
}
