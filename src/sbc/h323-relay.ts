/**
 * The SBC between H.323 endpoints (untrusted, the access socket, RAS on UDP
 * 1719: the SBC is the gatekeeper endpoints see) and the softswitch's
 * gatekeeper (trusted, the core socket). Each leg is its own RAS hop with its
 * own requestSeqNums, retransmissions and response cache; an endpoint's
 * request is answered when the core's answer is in, with RIPs meanwhile.
 *
 * KS1 (docs/h323.md): GRQ s1 → GRQ s2, GRJ s5 → GRJ s6; RRQ s7 → RRQ s8,
 * RCF s9 → RCF s10 (E_Ksp opened here, never forwarded). After it, every
 * message between endpoint and SBC carries an app-hmac cryptoHashedToken;
 * a lightweight RRQ or URQ whose token is missing, wrong, stale or replayed is
 * refused here and not forwarded.
 *
 * Plain endpoints (H.235.1 password tokens): the SBC answers their GRQ
 * itself (GCF: it is their gatekeeper), and passes their RRQs and URQs to
 * the softswitch as received, inside a relay token; the softswitch checks
 * them and makes the signed answer, which goes back unchanged.
 */
import { authOutcome, screenCommand } from './ids-relay.js';
import { networkInterfaces } from 'node:os';
import type { Clock, RandomBytes } from '../flow/messages.js';
import { DEFAULT_TS_WINDOW_SEC } from '../flow/replay.js';
import type { SbcReplayState } from '../flow/sbc-state.js';
import { SbcFlow, type SbcPending } from '../flow/sbc.js';
import { decodeRas, OID, type ClearToken, type RasMessage, type RegistrationRequest, type UnregistrationRequest } from '../h323/index.js';
import { RasTransport, RAS_PORT, type RasAnswer, type RasPeer, type RasRequest, type RasTimers, type RasTransportStats } from '../h323/transport.js';
import { ks1Token, offerToken, readS1, readS5, readS7, readS9, s10Token, s2Token, s6Token, s8Token, tokenHas } from '../adapters/h323/ks1.js';
import { gcf, grj, grq, R, rcf, rrj, rrq, transportAddress, ucf, urj, urq } from '../adapters/h323/messages.js';
import { EL, KS_OID } from '../adapters/h323/oids.js';
import { commonReason, sbcRejectReason, type Reason } from '../adapters/h323/outcomes.js';
import { hashedToken, protect, verifyProtected, type ProtectVerdict, type RasSigner } from '../adapters/h323/protect.js';
import { SessionTable, type RegisteredTerminal } from './sessions.js';
import { GatewaySoftswitches, type GatewayRelayBase } from './gateway-softswitches.js';

export const SBC_RAS_PORT = RAS_PORT;
/** Mechanisms this relay implements for H.323: TLS and TLS-PSK have no meaning for RAS over UDP. */
export const H323_MECHANISMS = ['app-hmac'] as const;

export interface H323RelayOptions extends GatewayRelayBase {
  /** Endpoint side (untrusted); default 0.0.0.0:1719. */
  listen?: { host?: string; port?: number };
  /** Socket toward the softswitch; default an ephemeral port on 0.0.0.0. */
  core?: { host?: string; port?: number };
  /** The address endpoints are told in GCF; default: the bound address, or a local one when bound to all. */
  advertise?: string;
  tsWindowSec?: number;
  challengeTtlSec?: number;
  timers?: Partial<RasTimers>;
  clock?: Clock;
  random?: RandomBytes;
  onPacket?: (side: 'access' | 'core', dir: 'in' | 'out', data: Buffer, peer: RasPeer) => void;
}

export interface H323RelayCounters {
  registrationsStarted: number;
  registered: number;
  plainRegistered: number;
  keepAlives: number;
  unregistered: number;
  badRequests: number;
  refused: number;
  rechallenged: number;
  /** app-hmac refusals by verdict. */
  hmacRejected: Record<ProtectVerdict, number>;
  /** Requests without any token this SBC accepts (no KS1, no H.235.1). */
  unauthenticated: number;
  /** Requests on the core socket from anyone but the softswitches (dropped). */
  foreignCore: number;
  /** Requests sent on to the next softswitch after the one tried answered nothing. */
  softswitchFailovers: number;
  passedThrough: number;
}

export interface H323RelayStats {
  access: RasTransportStats;
  core: RasTransportStats;
  counters: H323RelayCounters;
  sessions: number;
  flow: { seenNonces: number; outstanding: number };
}

export interface H323Relay {
  readonly port: number;
  readonly corePort: number;
  readonly sessions: SessionTable;
  stats(): H323RelayStats;
  close(): Promise<void>;
}

/** A KS1 terminal registered here: its address, endpointIdentifier and app-hmac state. */
interface Route {
  idc: string;
  eid: string;
  address: RasPeer;
  rec: RegisteredTerminal;
  out: RasSigner;
}

type Secured = { tokens?: ClearToken[] };

const VERDICT_REASON: Record<ProtectVerdict, Parameters<typeof R.securityError>[0]> = {
  missing: 'securityIntegrityFailed',
  'bad-tag': 'securityIntegrityFailed',
  replayed: 'securityReplay',
  'too-old': 'securityReplay',
  stale: 'securityWrongSyncTime',
  'wrong-id': 'securityWrongSendersID',
};

function localAddress(peer: string, bound: string, advertise: string | undefined): string {
  if (advertise) return advertise;
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  if (peer.startsWith('127.') || peer === '::1' || peer.startsWith('::ffff:127.')) return '127.0.0.1';
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

const RAS_NAMES: Record<string, string> = { gatekeeperRequest: 'GRQ', registrationRequest: 'RRQ', unregistrationRequest: 'URQ' };

export async function startH323Relay(o: H323RelayOptions): Promise<H323Relay> {
  const offered = o.sbc.offered ?? [{ name: 'app-hmac', q: 1 }];
  for (const m of offered) {
    if (!(H323_MECHANISMS as readonly string[]).includes(m.name.toLowerCase())) throw new RangeError(`mechanism ${m.name} is not implemented for H.323`);
  }
  const clock = o.clock ?? Date.now;
  const idsp = o.sbc.idsp;
  const windowSec = o.tsWindowSec ?? DEFAULT_TS_WINDOW_SEC;
  const flow = new SbcFlow<SbcReplayState>({
    ...(o.replayState ? { state: o.replayState } : {}),
    idsp,
    ksp: o.sbc.ksp,
    offered,
    clock,
    ...(o.random ? { random: o.random } : {}),
    ...(o.tsWindowSec !== undefined ? { tsWindowSec: o.tsWindowSec } : {}),
    ...(o.challengeTtlSec !== undefined ? { challengeTtlSec: o.challengeTtlSec } : {}),
  });
  const sessions = o.sessions ?? new SessionTable(clock);
  const byEid = new Map<string, Route>();
  const byIdc = new Map<string, Route>();
  const plain = new Map<string, number>(); // endpointIdentifier → expiresAt, H.235.1 endpoints (for stats)
  const ss = new GatewaySoftswitches(o.softswitch, o.pool, o.noAnswerMs);
  const counters: H323RelayCounters = {
    registrationsStarted: 0, registered: 0, plainRegistered: 0, keepAlives: 0, unregistered: 0, badRequests: 0, refused: 0, rechallenged: 0,
    hmacRejected: { missing: 0, 'bad-tag': 0, replayed: 0, 'too-old': 0, stale: 0, 'wrong-id': 0 }, unauthenticated: 0, foreignCore: 0, softswitchFailovers: 0, passedThrough: 0,
  };
  let access!: RasTransport;
  let core!: RasTransport;

  let coreRas: ReturnType<typeof transportAddress> | undefined;
  const coreAddress = () => (coreRas ??= transportAddress(localAddress(ss.list[0]!.host, core.address, undefined), core.port));
  // To the first live softswitch; one silent for the no-answer time is marked down and the next one gets it.
  const toCore = (build: (seq: number) => RasMessage) => ss.send((to) => core.request(to, build), (r) => r.ok);

  const live = (r: Route | undefined): Route | undefined => {
    if (!r) return undefined;
    if (sessions.get(r.idc) !== r.rec) {
      forget(r);
      return undefined;
    }
    return r;
  };
  const forget = (r: Route) => {
    if (byEid.get(r.eid) === r) byEid.delete(r.eid);
    if (byIdc.get(r.idc) === r) byIdc.delete(r.idc);
    if (sessions.get(r.idc) === r.rec) sessions.remove(r.idc);
  };
  const signed = (r: Route, m: RasMessage) => protect(m, r.out, { sendersID: idsp, generalID: r.eid }, clock());
  const badRequest = () => {
    counters.badRequests++;
    return R.undefinedReason;
  };

  /** The s5 of a core GRJ/RRJ that carries a challenge. */
  const challengeIn = (m: RasMessage) => {
    if (m.type !== 'gatekeeperReject' && m.type !== 'registrationReject') return undefined;
    const t = ks1Token(m.value.tokens);
    if (!t) return undefined;
    const s5 = readS5(t);
    return s5.ok ? s5.value : undefined;
  };

  /** Asks the softswitch for a challenge (s2 → s5) and makes the s6 echoing `n1`. */
  async function challengeFor(s2: Parameters<typeof s2Token>[0], n1: Buffer): Promise<{ ok: true; token: ClearToken } | { ok: false; reason: Reason }> {
    const res = await toCore((seq) => grq(seq, { ras: coreAddress(), alias: s2.idc, tokens: [s2Token(s2)] }));
    if (!res.ok) return { ok: false, reason: R.resourceUnavailable };
    const s5 = challengeIn(res.message);
    if (!s5) return { ok: false, reason: res.message.type === 'gatekeeperReject' ? commonReason(res.message.value.rejectReason) : R.undefinedReason };
    const ch = await flow.onChallenge(s5, { n1 });
    if (!ch.ok) return { ok: false, reason: sbcRejectReason(ch) };
    return { ok: true, token: s6Token(ch.s6) };
  }

  // ---------------------------------------------------------------- endpoint → SBC

  async function onGrq(req: RasRequest, t: ClearToken): Promise<RasAnswer> {
    const d = readS1(t);
    if (!d.ok) return grj(req.seq, badRequest());
    const r = await flow.onRegister(d.value);
    if (!r.ok) {
      counters.refused++;
      return grj(req.seq, sbcRejectReason(r));
    }
    counters.registrationsStarted++;
    const ch = await challengeFor(r.s2, d.value.n1);
    if (!ch.ok) return grj(req.seq, ch.reason);
    return grj(req.seq, R.securityDenial, { gatekeeperId: idsp, tokens: [ch.token] });
  }

  async function onRrq(req: RasRequest, v: RegistrationRequest, t: ClearToken): Promise<RasAnswer> {
    const d = readS7(t);
    if (!d.ok) return rrj(req.seq, badRequest());
    const s7 = d.value;
    const r = await flow.onAuthenticate(s7, req.peer.host);
    if (!r.ok) {
      if (r.kind === 'rechallenge') {
        counters.rechallenged++;
        const ch = await challengeFor(r.s2, s7.n1);
        return ch.ok ? rrj(req.seq, sbcRejectReason(r), { gatekeeperId: idsp, tokens: [ch.token] }) : rrj(req.seq, ch.reason);
      }
      counters.refused++;
      if (r.kind === 'no-common-mechanism') return rrj(req.seq, R.neededFeatureNotSupported, { gatekeeperId: idsp, tokens: [offerToken(r.offered.text, s7.idc, idsp)] });
      return rrj(req.seq, sbcRejectReason(r));
    }
    const res = await toCore((seq) => rrq(seq, { ras: coreAddress(), alias: s7.idc, ...(v.timeToLive ? { timeToLive: v.timeToLive } : {}), tokens: [s8Token(r.s8)] }));
    if (!res.ok) return rrj(req.seq, R.resourceUnavailable);
    const m = res.message;
    if (m.type === 'registrationConfirm') return accepted(req, m.value, r.pending);
    if (m.type !== 'registrationReject') return rrj(req.seq, R.undefinedReason);
    const s5 = challengeIn(m);
    if (m.value.rejectReason.type === 'securityDenial') authOutcome(o.ids, 'h323', false, 'ks1', s7.idc, req.peer.host, req.peer.port, 'wrong response');
    if (s5) {
      // A wrong authenticator (securityDenial) or a stale Rand (securityReplay): the new challenge echoes N1'.
      const ch = await flow.onChallenge(s5, { n1: r.pending.n1 });
      if (ch.ok) return rrj(req.seq, m.value.rejectReason, { gatekeeperId: idsp, tokens: [s6Token(ch.s6)] });
    }
    counters.refused++;
    return rrj(req.seq, m.value.rejectReason);
  }

  function accepted(req: RasRequest, v: Extract<RasMessage, { type: 'registrationConfirm' }>['value'], pending: SbcPending): RasAnswer {
    const t = ks1Token(v.tokens);
    const s9 = t ? readS9(t) : undefined;
    if (!s9?.ok) return rrj(req.seq, R.undefinedReason);
    const acc = flow.onAccepted(s9.value, pending);
    if (!acc.ok) return rrj(req.seq, sbcRejectReason(acc));
    const ttl = v.timeToLive ?? 300;
    const old = byIdc.get(acc.session.idc);
    if (old) forget(old);
    const rec = sessions.accept(acc.session, 'h323', `${req.peer.host}:${req.peer.port}`, clock() + ttl * 1000);
    const route: Route = { idc: rec.idc, eid: v.endpointIdentifier, address: req.peer, rec, out: { kApp: rec.session.keys.kAppHmac, dir: 'downlink', next: 1 } };
    byIdc.set(route.idc, route);
    byEid.set(route.eid, route);
    counters.registered++;
    authOutcome(o.ids, 'h323', true, 'ks1', rec.idc, req.peer.host, req.peer.port);
    return rcf(req.seq, { endpointIdentifier: route.eid, alias: route.idc, gatekeeperId: idsp, timeToLive: ttl, tokens: [s10Token(acc.s10)] });
  }

  /** The app-hmac check of a message from a registered terminal; the route, or the unsigned refusal. */
  function checked(req: RasRequest, eid: string | undefined, refuse: (reason: Parameters<typeof rrj>[1]) => RasMessage): { route: Route } | { answer: RasMessage } {
    const route = live(eid === undefined ? undefined : byEid.get(eid));
    if (!route?.rec.uplink) return { answer: refuse(R.fullRegistrationRequired) };
    const verdict = verifyProtected(req.message, req.bytes, req.locate, route.rec.uplink, { sendersID: [route.eid, route.idc], generalID: idsp, nowMs: clock(), windowSec });
    if (verdict !== 'ok') {
      counters.hmacRejected[verdict]++;
      o.logger?.info({ idc: route.idc, type: req.message.type, verdict }, 'h323 sbc: app-hmac refused');
      return { answer: refuse(R.securityError(VERDICT_REASON[verdict])) };
    }
    // The tag proves it is the terminal: follow it if its address changed (NAT rebinding).
    route.address = req.peer;
    return { route };
  }

  async function onKeepAlive(req: RasRequest, v: RegistrationRequest): Promise<RasAnswer> {
    const c = checked(req, v.endpointIdentifier, (reason) => rrj(req.seq, reason));
    if ('answer' in c) return c.answer;
    const route = c.route;
    const res = await toCore((seq) => rrq(seq, { ras: coreAddress(), keepAlive: true, endpointIdentifier: route.eid, ...(v.timeToLive ? { timeToLive: v.timeToLive } : {}) }));
    if (!res.ok) return signed(route, rrj(req.seq, R.resourceUnavailable));
    const m = res.message;
    if (m.type === 'registrationConfirm') {
      counters.keepAlives++;
      const ttl = m.value.timeToLive ?? 300;
      route.rec.expiresAt = clock() + ttl * 1000;
      return signed(route, rcf(req.seq, { endpointIdentifier: route.eid, gatekeeperId: idsp, timeToLive: ttl }));
    }
    const reason = m.type === 'registrationReject' ? m.value.rejectReason : R.undefinedReason;
    const answer = signed(route, rrj(req.seq, reason, { gatekeeperId: idsp }));
    if (reason.type === 'fullRegistrationRequired') forget(route);
    return answer;
  }

  async function onUnregister(req: RasRequest, v: UnregistrationRequest): Promise<RasAnswer> {
    const c = checked(req, v.endpointIdentifier, (reason) => urj(req.seq, reason.type === 'fullRegistrationRequired' ? R.notCurrentlyRegistered : (reason as Parameters<typeof urj>[1])));
    if ('answer' in c) return c.answer;
    const route = c.route;
    const res = await toCore((seq) => urq(seq, { endpointIdentifier: route.eid, alias: route.idc }));
    // Whatever the softswitch says, the terminal asked to go: its session ends here.
    const answer = signed(route, ucf(req.seq));
    forget(route);
    counters.unregistered++;
    if (!res.ok || res.message.type !== 'unregistrationConfirm') o.logger?.info({ idc: route.idc }, 'h323 sbc: softswitch did not confirm an unregistration');
    return answer;
  }

  /** A plain endpoint's RRQ or URQ: to the softswitch as received; its answer back as the softswitch made it. */
  async function passThrough(req: RasRequest): Promise<RasAnswer> {
    counters.passedThrough++;
    const m = req.message as Extract<RasMessage, { type: 'registrationRequest' | 'unregistrationRequest' }>;
    const relay: ClearToken = {
      tokenOID: KS_OID.relay,
      generalID: idsp,
      profileInfo: [
        { elementID: EL.ipc, element: { type: 'name', value: req.peer.host } },
        { elementID: EL.original, element: { type: 'octets', value: req.bytes } },
      ],
    };
    const { cryptoTokens: _c, ...rest } = m.value as typeof m.value & { cryptoTokens?: unknown };
    const fail = () => (m.type === 'registrationRequest' ? rrj(req.seq, R.resourceUnavailable) : urj(req.seq, R.undefinedReason));
    const res = await toCore((seq) => ({ type: m.type, value: { ...rest, requestSeqNum: seq, tokens: [...(rest.tokens ?? []), relay] } }) as RasMessage);
    if (!res.ok) return fail();
    const back = ((res.message as { value?: Secured }).value?.tokens ?? []).find((t) => t.tokenOID === KS_OID.relay);
    const answer = back?.profileInfo?.find((e) => e.elementID === EL.answer)?.element;
    if (answer?.type !== 'octets') return fail();
    const bytes = answer.value as Buffer;
    const a = decodeRas(bytes);
    // Only an answer to this very request goes to the endpoint.
    const pairs: Record<string, string[]> = { registrationRequest: ['registrationConfirm', 'registrationReject'], unregistrationRequest: ['unregistrationConfirm', 'unregistrationReject'] };
    if (!a.ok || !pairs[m.type]!.includes(a.message.type) || (a.message as { value: { requestSeqNum: number } }).value.requestSeqNum !== req.seq) return fail();
    if (m.type === 'registrationRequest') authOutcome(o.ids, 'h323', a.message.type === 'registrationConfirm', 'h235', undefined, req.peer.host, req.peer.port);
    if (a.message.type === 'registrationConfirm') {
      if (!plain.has(a.message.value.endpointIdentifier)) counters.plainRegistered++;
      plain.set(a.message.value.endpointIdentifier, clock() + (a.message.value.timeToLive ?? 300) * 1000);
    }
    if (a.message.type === 'unregistrationConfirm' && m.type === 'unregistrationRequest' && m.value.endpointIdentifier) plain.delete(m.value.endpointIdentifier);
    return bytes;
  }

  async function onAccess(req: RasRequest): Promise<RasAnswer> {
    const m = req.message;
    if (screenCommand(o.ids, 'h323', RAS_NAMES[m.type] ?? m.type, undefined, req.peer.host, req.peer.port)) return null;
    const t = ks1Token((m as { value: Secured }).value.tokens);
    const h = hashedToken(m);
    if (m.type === 'gatekeeperRequest') {
      if (t) return onGrq(req, t);
      // A plain endpoint discovering its gatekeeper: the SBC is the one it sees; H.235.1 follows in its RRQ.
      return gcf(req.seq, { ras: transportAddress(localAddress(req.peer.host, access.address, o.advertise), access.port), gatekeeperId: idsp, pwdHash: OID.h2351AllFields });
    }
    if (m.type === 'registrationRequest') {
      if (h?.kind === 'h235.1') return passThrough(req);
      if (m.value.keepAlive) return onKeepAlive(req, m.value);
      if (t && tokenHas.authenticator(t)) return onRrq(req, m.value, t);
      counters.unauthenticated++;
      return rrj(req.seq, R.securityDenial);
    }
    if (m.type === 'unregistrationRequest') {
      if (h?.kind === 'h235.1') return passThrough(req);
      return onUnregister(req, m.value);
    }
    return null;
  }

  // ---------------------------------------------------------------- softswitch → SBC

  /** The gatekeeper unregisters a terminal: a protected URQ to it; its answer is checked, its session ends either way. */
  async function onCore(req: RasRequest): Promise<RasAnswer> {
    if (!ss.isMember(req.peer.host, req.peer.port)) {
      counters.foreignCore++;
      return null;
    }
    const m = req.message;
    if (m.type !== 'unregistrationRequest') return null;
    const route = live(m.value.endpointIdentifier === undefined ? undefined : byEid.get(m.value.endpointIdentifier));
    if (!route) return urj(req.seq, R.notCurrentlyRegistered);
    const res = await access.request(route.address, (seq) =>
      signed(route, urq(seq, { endpointIdentifier: route.eid, alias: route.idc, gatekeeperId: idsp, ...(m.value.reason?.type === 'ttlExpired' ? { reason: 'ttlExpired' } : { reason: 'maintenance' }) })),
    );
    if (res.ok && route.rec.uplink) {
      const verdict = verifyProtected(res.message, res.bytes, res.locate, route.rec.uplink, { sendersID: [route.eid, route.idc], generalID: idsp, nowMs: clock(), windowSec });
      if (verdict !== 'ok') counters.hmacRejected[verdict]++;
    }
    forget(route);
    counters.unregistered++;
    return ucf(req.seq);
  }

  const tap = (side: 'access' | 'core') => (o.onPacket ? { onPacket: (dir: 'in' | 'out', data: Buffer, peer: RasPeer) => o.onPacket!(side, dir, data, peer) } : {});
  const onEvent = (event: string, detail: Record<string, unknown>) => o.logger?.debug(detail, `h323 sbc: ${event}`);
  access = await RasTransport.open({ host: o.listen?.host ?? '0.0.0.0', port: o.listen?.port ?? SBC_RAS_PORT, onRequest: onAccess, ...(o.timers ? { timers: o.timers } : {}), onEvent, ...tap('access') });
  try {
    core = await RasTransport.open({ host: o.core?.host ?? '0.0.0.0', port: o.core?.port ?? 0, onRequest: onCore, ...(o.timers ? { timers: o.timers } : {}), onEvent, ...tap('core') });
  } catch (err) {
    await access.close();
    throw err;
  }

  const sweeper = setInterval(() => {
    const now = clock();
    for (const r of byEid.values()) live(r);
    for (const [eid, until] of plain) if (until <= now) plain.delete(eid);
    flow.sweep();
  }, 5000);
  sweeper.unref();

  return {
    port: access.port,
    corePort: core.port,
    sessions,
    stats: () => ({
      access: access.stats(),
      core: core.stats(),
      counters: { ...counters, softswitchFailovers: ss.failovers, hmacRejected: { ...counters.hmacRejected } },
      sessions: byEid.size,
      flow: flow.stats,
    }),
    async close() {
      clearInterval(sweeper);
      await Promise.all([access.close(), core.close()]);
    },
  };
}
