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
  createCancel, createResponse, formatVia, isSipUri, newBranch, parseNameAddr,
  type ServerContext, type SipRequest, type SipResponse, type SipStack, type SipTransport, type Uri, type Via,
} from '../sip/index.js';
import { fromTag, toTag } from '../sip/proxy/dialog.js';
import { takeHop } from '../sip/proxy/hops.js';
import type { OwnAddresses } from '../sip/proxy/own-addresses.js';
import { popOwnRoutes } from '../sip/proxy/route.js';
import type { RelayBranch } from '../sip/proxy/relay.js';
import { PARAM, type HeaderSigner } from './signing/sip-signatures.js';
import { routeItems } from './signing/route-lines.js';
import { flowOf, flowParty, ks1Party, sameFlow, type DialogParty, type DialogTable } from './dialogs.js';
import { identityOfUri, sameIdentity } from '../sip/uri-compare.js';
import type { ContactMap, TerminalFlow } from './sip-contacts.js';
import type { SbcMetrics } from './sip-metrics.js';
import type { RegisteredTerminal } from './sessions.js';
import { flowKey } from '../ids/blacklist.js';
import type { SipGuard } from './sip-guard.js';
import { P_ASSERTED_IDENTITY, type SbcSides } from './sip-sides.js';

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
  sides: SbcSides;
  guard: SipGuard;
  /** The untrusted stack (requests towards terminals). */
  untrusted: () => SipStack;
  /** null: signing off (benchmarks, labs without a key store). */
  signer: HeaderSigner | null;
  contacts: ContactMap;
  dialogs: DialogTable;
  /** Every address that is this SBC or its pool. */
  own: OwnAddresses;
  metrics?: SbcMetrics | undefined;
}

export class SbcCalls {
  readonly counters: CallCounters = { callsOut: 0, callsIn: 0, answered: 0, routeSetRefused: 0, notParty: 0, responsesDropped: 0, noRoute: 0 };

  constructor(readonly d: SbcCallsDeps) {}

  #isOwn(u: Uri): boolean {
    return this.d.own.uri(u);
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
    const p = this.d.sides;
    const src = ctx.source;
    let party: DialogParty | undefined;
    if (this.d.signer) {
      const v = this.d.signer.verifyInDialogRequest(req, flowKey(src.address, src.port));
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
      let g = this.d.guard.checkParty(req, src, party.idc);
      if (g instanceof Promise) g = await g; // only with a shared (Redis) session store
      if (!g.ok) return this.#notParty(ctx, req, g.kind, g.warning);
      rec = g.rec!;
      this.d.contacts.seen(rec.idc, src);
    }
    req.remove(KS_HMAC);
    const fwd = req.clone();
    popOwnRoutes(fwd, this.d.own);
    return this.#toCore(req, fwd, ctx, rec, { inDialog: true, party, idc: party.idc, assert: rec ? rec.session.mechanism : 'digest-flow' });
  }

  /**
   * A valid route set presented by someone else than its party. The Warning
   * says no more than that (the detail goes to the log); the answer is not
   * signed under the party's key: it is not the party we answer.
   */
  #notParty(ctx: ServerContext, req: SipRequest, kind: 'app-hmac' | 'transport-binding', why: string): void {
    this.counters.notParty++;
    this.d.signer?.reportFailure(flowKey(ctx.source.address, ctx.source.port), 'dialog-party', 'not-party');
    this.d.sides.logger?.warn({ source: `${ctx.source.address}:${ctx.source.port}`, method: req.method, why }, 'sbc: in-dialog request not from the dialog party');
    this.d.sides.refuse(ctx, req, kind, 'not sent by the party of this dialog');
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
    const p = this.d.sides;
    fwd.set(P_KS_IDSP, p.core.agent);
    if (o.assert !== undefined && o.idc !== undefined) {
      fwd.set(P_KS_AUTH, `mechanism=${o.assert}`);
      fwd.set(P_ASSERTED_IDENTITY, `<sip:${o.idc}>`);
    }
    if (req.method === 'ACK') return this.#ackToCore(fwd, ctx);

    const forming = req.method === 'INVITE' && !o.inDialog;
    let rrBelow = 0;
    if (forming) {
      rrBelow = req.recordRoutes().length;
      // one entry facing the terminals, one facing the core (RFC 5658)
      p.core.recordRoute(fwd, ctx.source.transport, p.link.transport);
      this.counters.callsOut++;
    }
    // a CANCEL from the caller reaches the core through the relay's fan-out
    if (req.method === 'INVITE') p.reply(ctx, createResponse(req, 100), rec);
    const caller = forming ? o.party : undefined;
    const res = await p.forward(fwd, ctx, rec, (r) => this.#towardsCaller(r, caller, rrBelow));
    this.#finished(req, res, forming, 'from-terminal', o.party);
    p.reply(ctx, res, rec);
  }

  /** A dialog-forming answer on its way to our caller (`caller` set): sign the caller's route set and party on U1. */
  #towardsCaller(res: SipResponse, caller: DialogParty | undefined, rrBelow: number): void {
    if (!caller || !this.d.signer || res.status <= 100 || res.status >= 300) return;
    try {
      // counted, not parsed: the signer parses only its own entry (route-lines.ts)
      const n = routeItems(res, 'Record-Route').length;
      if (n <= rrBelow || toTag(res) === undefined) return;
      this.d.signer.signCallerRouteSet(res, caller, n - 1 - rrBelow);
    } catch {
      // an answer from the core whose Record-Route or Contact does not parse goes on unsigned: the caller cannot use the dialog
    }
  }

  #ackToCore(fwd: SipRequest, ctx: ServerContext): void {
    const p = this.d.sides;
    if (!takeHop(fwd)) return;
    p.counters.forwarded++;
    // the softswitch the dialog's route names if it is alive, else a live one (the Route unchanged: its peers take the entry as theirs)
    const to = p.coreBranchFor(fwd);
    void p.core.forwardStateless(p.link.stack, fwd, ctx.source, { ...(to.destination ? { destination: to.destination } : {}), ...(to.transport ? { transport: to.transport } : {}) });
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
    const p = this.d.sides;
    const core = p.core;
    const checked = core.check(req);
    if (!checked.ok) {
      if (req.method !== 'ACK') ctx.reply(core.refusal(req, checked.status));
      return;
    }
    const fwd = checked.fwd;
    stripPrivate(fwd);
    fwd.remove(KS_HMAC);
    let target: Uri;
    try {
      target = fwd.requestUri();
    } catch {
      if (req.method !== 'ACK') ctx.reply(core.refusal(req, 400, { reason: 'Bad Request-URI' }));
      return;
    }
    let idc = this.d.contacts.lookup(target);
    let rec = idc !== undefined ? this.d.guard.session(idc) : undefined;
    // A pool on Redis: a terminal registered through another instance (one that died), reached over its UDP flow;
    // or a KS1 terminal whose copy here was dropped. A Digest phone registered here needs nothing from Redis.
    if (this.d.contacts.shared && !rec && (idc === undefined || this.d.contacts.registeredByKs1(target))) {
      let s: { rec?: RegisteredTerminal | undefined; ks1: boolean } | 'unavailable';
      try {
        s = await this.#fromShared(target, idc);
      } catch {
        s = 'unavailable';
      }
      if (s === 'unavailable') {
        if (req.method !== 'ACK') ctx.reply(core.refusal(req, 503, { retryAfter: 5, warning: 'the shared state is unavailable' }));
        return;
      }
      idc = this.d.contacts.lookup(target);
      rec = s.rec;
      if (idc !== undefined && s.ks1 && !rec) {
        // registered by KS1 and its session is gone: nothing to deliver it under
        this.counters.noRoute++;
        if (req.method !== 'ACK') ctx.reply(core.refusal(req, 480, { warning: 'the terminal holds no registration' }));
        return;
      }
    }
    // Shared (Redis), app-hmac: sign above whatever another instance signed for this terminal; without Redis, as it is.
    const fresh = rec ? this.d.guard.freshDownlink(rec) : undefined;
    if (fresh) await fresh.catch(() => undefined);
    const flow = idc !== undefined ? this.#usableFlow(idc, rec) : undefined;
    if (!idc || !flow) {
      this.counters.noRoute++;
      if (req.method === 'ACK') return;
      const why = !idc ? 'no terminal registered at this Contact' : 'the terminal has no usable connection';
      ctx.reply(core.refusal(req, !idc ? 404 : 480, { warning: why }));
      return;
    }
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
      core.recordRoute(fwd, p.link.transport, flow.transport);
      this.d.signer?.signRecordRoute(fwd, callee, 0);
      this.counters.callsIn++;
    }
    this.#pushVia(fwd, flow.transport, req.method !== 'ACK');
    if (rec?.session.mechanism === 'app-hmac' && rec.downlink) signSipMessage(fwd, rec.downlink);
    const branch: RelayBranch = {
      destination: { address: flow.address, port: flow.port, protocol: flow.transport.protocol, ...(flow.connection ? { connection: flow.connection } : {}) },
      transport: flow.transport,
    };
    const u = this.d.untrusted();
    p.counters.forwarded++;
    if (req.method === 'ACK') {
      void core.forwardStateless(u, fwd, ctx.source, { destination: branch.destination!, transport: flow.transport, noVia: true });
      return;
    }
    const out = await core.relay({
      stack: u, ctx, fwd, branches: [branch], noVia: true,
      cancel: (inv) => {
        const c = createCancel(inv);
        if (rec?.session.mechanism === 'app-hmac' && rec.downlink) signSipMessage(c, rec.downlink);
        return c;
      },
      // the terminal's tag, its connection and our Record-Route signature, on the answer as it came
      accept: (r) => this.#checkAnswer(r, rec, forming, rrBelow),
      upstream: (r) => {
        this.#towardsCore(r);
        ctx.reply(r, { forwarded: true });
      },
    });
    let res: SipResponse;
    if (out.kind === 'refused') res = core.refusal(req, 502, { reason: 'Bad Gateway', warning: "the terminal's answer failed its checks" });
    else if (out.kind === 'answered') res = out.res;
    else res = out.best?.res ?? core.refusal(req, out.cancelled ? 487 : 480);
    this.#towardsCore(res);
    this.#finished(req, res, forming, 'to-terminal', callee);
    ctx.reply(res, { forwarded: true });
  }

  /**
   * With a shared store: the Contact read there when this instance does not know it, and the
   * terminal's session (also read there). `ks1`: the Contact was registered by KS1 (then a session is needed).
   */
  async #fromShared(target: Uri, known: string | undefined): Promise<{ rec?: RegisteredTerminal | undefined; ks1: boolean }> {
    let idc = known;
    let ks1 = false;
    if (idc === undefined) {
      const c = await this.d.contacts.load(target);
      if (!c) return { ks1 };
      idc = c.idc;
      ks1 = c.ks1;
    } else ks1 = true;
    const r = this.d.guard.sessionOrLoad(idc);
    return { rec: r instanceof Promise ? await r : r, ks1 };
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
    const src = res.receivedFrom ? flowKey(res.receivedFrom.address, res.receivedFrom.port) : undefined;
    if (rec?.session.mechanism === 'app-hmac' && rec.uplink) {
      const v = verifySipMessage(res, rec.uplink);
      if (v !== 'ok') return this.#drop(src, 'app-hmac', `answer KS-HMAC ${v}`);
    }
    if (forming && this.d.signer && res.status < 300 && toTag(res) !== undefined) {
      // Our entry: the topmost one of ours carrying a Record-Route signature
      // (entries the callee added sit above it; anything changed below it breaks the signature).
      // Read from the top down, parsing no further than that entry: the signer checks the whole set.
      let index = 0;
      try {
        const rr = routeItems(res, 'Record-Route');
        let mine = -1;
        for (let i = 0; i < rr.length && mine < 0; i++) {
          const n = parseNameAddr(rr[i]!, 'Record-Route');
          if (this.#isOwn(n.uri) && isSipUri(n.uri) && PARAM.rr in n.uri.params) mine = i;
        }
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
    const p = this.d.sides;
    this.counters.responsesDropped++;
    if (source !== undefined) p.countSource(source, kind);
    p.logger?.info({ source, why }, 'sbc: answer from a terminal dropped');
    return false;
  }

  /** On its way to the core (our Via already gone): the terminal's tag and any P-KS-* go. */
  #towardsCore(res: SipResponse): void {
    res.remove(KS_HMAC);
    stripPrivate(res);
  }
}
