/**
 * The SBC between MGCP gateways (untrusted, the `access` socket) and the
 * call agent (trusted, the `core` socket). Each leg is its own MGCP hop with
 * its own transaction ids, retransmission and response cache; the relay
 * maps one leg's transaction to the other's.
 *
 * Registration: RSIP s1 → s2 (adds IDsp), RQNT s5 → s6 (adds N1 echo, N2,
 * TS, the offer), NTFY s7 → s8 (checks N2/TS/N1, chooses the mechanism),
 * RQNT s9 → s10 (opens E_Ksp, adds the MAC, never forwards X-KS-EKSP). After
 * it, every other command from or to the gateway carries X-KS-SEQ and
 * X-KS-HMAC (app-hmac); the SBC answers a missing, wrong or replayed one with
 * 510 and does not forward it.
 */
import { authOutcome, screenCommand } from './ids-relay.js';
import { verifyCommand, protectCommand, withoutProtection } from '../adapters/mgcp/app-hmac.js';
import {
  KS,
  ksStep,
  readS1,
  readS5,
  readS7,
  readS9,
  s10Params,
  s2Params,
  s6Params,
  s8Params,
  withoutKs,
  type ChallengeResult,
} from '../adapters/mgcp/params.js';
import type { AppHmacVerdict } from '../crypto/app-hmac.js';
import type { Clock, RandomBytes } from '../flow/messages.js';
import type { SbcReplayState } from '../flow/sbc-state.js';
import { SbcFlow, type SbcPending, type SbcReject } from '../flow/sbc.js';
import { MGCP_CODE_TEXT } from '../mgcp/codes.js';
import { endpointDomain } from '../mgcp/endpoint-name.js';
import { CALL_AGENT_PORT, MgcpTransport, type MgcpPeer, type MgcpReply, type SendResult, type TransportStats, type TransportTimers } from '../mgcp/transport.js';
import { param, type MgcpCommand, type MgcpParam } from '../mgcp/types.js';
import { SessionTable, type RegisteredTerminal } from './sessions.js';
import { GatewaySoftswitches, type GatewayRelayBase } from './gateway-softswitches.js';
import { GatewayGate, type GatewayGateStats } from './gateway-gate.js';

export interface MgcpRelayOptions extends GatewayRelayBase {
  /** Gateway side (untrusted); default 0.0.0.0:2727, the call agent port gateways expect. */
  listen?: { host?: string; port?: number };
  /** Socket toward the softswitch; default an ephemeral port on 0.0.0.0. */
  core?: { host?: string; port?: number };
  /** Lifetime of a registration (MGCP has no expiry of its own). */
  registrationTtlSec?: number;
  tsWindowSec?: number;
  challengeTtlSec?: number;
  /** Gateways mid-registration remembered at once. */
  maxPending?: number;
  transport?: Partial<TransportTimers>;
  clock?: Clock;
  random?: RandomBytes;
  onPacket?: (side: 'access' | 'core', dir: 'in' | 'out', data: Buffer, peer: MgcpPeer) => void;
}

export interface MgcpRelayCounters {
  registrationsStarted: number;
  registered: number;
  badRequests: number;
  refused: number;
  rechallenged: number;
  /** Commands from gateways with no live registration. */
  notRegistered: number;
  /** New registrations (s1) refused 409: maxCorePending commands waited for the softswitch, or the gate's share (socketWaitHighMs). */
  shed: number;
  /** app-hmac refusals by verdict. */
  hmacRejected: Record<Exclude<AppHmacVerdict, 'ok'>, number>;
  /** Commands on the core socket from anyone but the softswitches (dropped). */
  foreignCore: number;
  /** Commands sent on to the next softswitch after the one tried answered nothing. */
  softswitchFailovers: number;
  forwardedUp: number;
  forwardedDown: number;
}

export interface MgcpRelayStats {
  access: TransportStats;
  core: TransportStats;
  counters: MgcpRelayCounters;
  sessions: number;
  pending: number;
  flow: { seenNonces: number; outstanding: number };
  gate: GatewayGateStats;
}

export interface MgcpRelay {
  /** Gateway-side port. */
  readonly port: number;
  readonly corePort: number;
  readonly sessions: SessionTable;
  stats(): MgcpRelayStats;
  close(): Promise<void>;
}

/** A gateway between s1 and s10. */
interface PendingGateway {
  address: MgcpPeer;
  endpoint: string;
  /** The N1 the next s6 echoes: from s1, or from the s7 being challenged again. */
  askedBy: Buffer;
  /** Set when the SBC itself asked for the new challenge. */
  result?: ChallengeResult;
  pending?: SbcPending;
  expiresAt: number;
}

/** A registered gateway: where to reach it, and the session record it was given. */
interface GatewayRoute {
  address: MgcpPeer;
  domain: string;
  rec: RegisteredTerminal;
}

const FIELD_PARAM: Record<string, string> = {
  idc: KS.IDC,
  idsp: KS.IDSP,
  n1: KS.N1,
  n2: KS.N2,
  ts: KS.TS,
  rand: KS.RAND,
  authenticator: KS.RESPONSE,
  mechs: KS.MECHS,
};

const IMPLEMENTED = ['app-hmac'];
/** K: is a per-hop acknowledgement list: never relayed. */
const hop = (params: MgcpParam[]): MgcpParam[] => params.filter((p) => p.key !== 'k');

export async function startMgcpRelay(o: MgcpRelayOptions): Promise<MgcpRelay> {
  const offered = o.sbc.offered ?? [{ name: 'app-hmac', q: 1 }];
  for (const m of offered) {
    if (!IMPLEMENTED.includes(m.name.toLowerCase())) throw new RangeError(`mechanism ${m.name} is not implemented for MGCP`);
  }
  const clock = o.clock ?? Date.now;
  const flow = new SbcFlow<SbcReplayState>({
    ...(o.replayState ? { state: o.replayState } : {}),
    idsp: o.sbc.idsp,
    ksp: o.sbc.ksp,
    offered,
    clock,
    ...(o.random ? { random: o.random } : {}),
    ...(o.tsWindowSec !== undefined ? { tsWindowSec: o.tsWindowSec } : {}),
    ...(o.challengeTtlSec !== undefined ? { challengeTtlSec: o.challengeTtlSec } : {}),
  });
  const sessions = o.sessions ?? new SessionTable(clock);
  const ttlMs = (o.registrationTtlSec ?? 3600) * 1000;
  const pendingTtlMs = 2 * (o.challengeTtlSec ?? 30) * 1000;
  const maxPending = o.maxPending ?? 100_000;
  const pendingByIdc = new Map<string, PendingGateway>();
  const routes = new Map<string, GatewayRoute>(); // by IDc
  const byDomain = new Map<string, string>(); // endpoint domain → IDc
  const ss = new GatewaySoftswitches(o.softswitch, o.pool, o.noAnswerMs, o.maxCorePending);
  const counters: MgcpRelayCounters = {
    registrationsStarted: 0, registered: 0, badRequests: 0, refused: 0, rechallenged: 0, notRegistered: 0, shed: 0,
    hmacRejected: { missing: 0, 'bad-tag': 0, replayed: 0, 'too-old': 0 }, foreignCore: 0, softswitchFailovers: 0, forwardedUp: 0, forwardedDown: 0,
  };
  let access: MgcpTransport;
  let core: MgcpTransport;
  const gate = new GatewayGate({ waitHighMs: o.socketWaitHighMs ?? 0 }, () => access.waitMs());

  const badRequest = (field: string): MgcpReply => {
    counters.badRequests++;
    return { code: 510, text: `Protocol error: bad ${FIELD_PARAM[field] ?? field}` };
  };

  const reject = (r: SbcReject): MgcpReply => {
    switch (r.kind) {
      case 'bad-request':
        return badRequest(r.field);
      case 'wrong-proxy':
        counters.refused++;
        return { code: 500, text: 'Endpoint unknown: forbidden (wrong IDsp)' };
      case 'refused':
        counters.refused++;
        return { code: 510, text: `Protocol error: refused ${r.reason}` };
      case 'no-common-mechanism':
        counters.refused++;
        return { code: 510, text: 'Protocol error: no common mechanism', params: [param(KS.MECHS, r.offered.text)] };
      case 'busy':
        return { code: 400, text: 'Transient error: busy' };
      case 'internal':
        return { code: 400, text: 'Transient error: internal' };
      case 'rechallenge':
        return { code: 400, text: 'Transient error' }; // handled by the caller
    }
  };

  /**
   * A response from one leg as the answer on the other; no answer becomes 406.
   * Toward a gateway the call agent's commentary is replaced by the code's
   * standard text: its reasons stay on the trusted side (docs/mgcp.md).
   */
  const relay = (r: SendResult, towardGateway: boolean): MgcpReply => {
    if (!r.ok) return { code: 406, text: 'Transaction time-out' };
    const res = r.response;
    const params = towardGateway ? withoutKs(hop(res.params)) : withoutProtection(hop(res.params));
    const out: MgcpReply = { code: res.code, params };
    const text = towardGateway ? MGCP_CODE_TEXT[res.code] : res.text;
    if (text !== undefined) out.text = text;
    if (res.pkg !== undefined) out.pkg = res.pkg;
    if (res.sdp !== undefined) out.sdp = res.sdp;
    return out;
  };

  /** To the first live softswitch; one silent for the no-answer time is marked down and the next one gets it. */
  const toSoftswitch = (out: Omit<MgcpCommand, 'kind' | 'tid'>): Promise<SendResult> => ss.send((to) => core.send(to, out), (r) => r.ok);

  const toCore = (cmd: MgcpCommand, params: MgcpParam[]): Promise<SendResult> => {
    const out: Omit<MgcpCommand, 'kind' | 'tid'> = { verb: cmd.verb, endpoint: cmd.endpoint, version: cmd.version, params };
    if (cmd.profile !== undefined) out.profile = cmd.profile;
    if (cmd.sdp !== undefined) out.sdp = cmd.sdp;
    return toSoftswitch(out);
  };

  const rememberPending = (idc: string, p: PendingGateway): boolean => {
    const now = clock();
    if (!pendingByIdc.has(idc) && pendingByIdc.size >= maxPending) {
      for (const [k, v] of pendingByIdc) if (v.expiresAt <= now) pendingByIdc.delete(k);
      if (pendingByIdc.size >= maxPending) return false;
    }
    pendingByIdc.delete(idc); // keep insertion order ≈ expiry order
    pendingByIdc.set(idc, p);
    return true;
  };

  const livePending = (idc: string): PendingGateway | undefined => {
    const p = pendingByIdc.get(idc);
    if (p && p.expiresAt <= clock()) {
      pendingByIdc.delete(idc);
      return undefined;
    }
    return p;
  };

  const liveRoute = (idc: string | undefined): GatewayRoute | undefined => {
    if (idc === undefined) return undefined;
    const r = routes.get(idc);
    if (!r) return undefined;
    if (sessions.get(idc) !== r.rec) {
      routes.delete(idc);
      if (byDomain.get(r.domain) === idc) byDomain.delete(r.domain);
      return undefined;
    }
    return r;
  };

  // ---------- gateway → SBC ----------

  const onS1 = async (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> => {
    // overloaded: a new registration waits for none of the softswitch's time; those started are finished
    if (ss.full() || gate.refuse()) {
      counters.shed++;
      return { code: 409, text: 'Processing overload' };
    }
    const d = readS1(cmd.params);
    if (!d.ok) return badRequest(d.field);
    const r = await flow.onRegister(d.value);
    if (!r.ok) return reject(r);
    if (!rememberPending(d.value.idc, { address: from, endpoint: cmd.endpoint, askedBy: d.value.n1, expiresAt: clock() + pendingTtlMs })) {
      return { code: 400, text: 'Transient error: busy' };
    }
    counters.registrationsStarted++;
    return relay(await toCore(cmd, [...withoutKs(hop(cmd.params)), ...s2Params(r.s2)]), true);
  };

  const onS7 = async (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> => {
    const d = readS7(cmd.params);
    if (!d.ok) return badRequest(d.field);
    const s7 = d.value;
    const r = await flow.onAuthenticate(s7, from.host);
    const base = { address: from, endpoint: cmd.endpoint, askedBy: s7.n1, expiresAt: clock() + pendingTtlMs };
    if (!r.ok) {
      if (r.kind !== 'rechallenge') return reject(r);
      counters.rechallenged++;
      if (!rememberPending(s7.idc, { ...base, result: 'retry' })) return { code: 400, text: 'Transient error: busy' };
      // The notification was received; a fresh challenge follows from the call agent.
      const restart: Omit<MgcpCommand, 'kind' | 'tid'> = { verb: 'RSIP', endpoint: cmd.endpoint, version: cmd.version, params: [param('RM', 'restart'), ...s2Params(r.s2)] };
      return {
        code: 200,
        after: () => void toSoftswitch(restart).then((res) => {
          if (!res.ok || res.response.code !== 200) pendingByIdc.delete(s7.idc);
        }),
      };
    }
    if (!rememberPending(s7.idc, { ...base, pending: r.pending })) return { code: 400, text: 'Transient error: busy' };
    return relay(await toCore(cmd, [...withoutKs(hop(cmd.params)), ...s8Params(r.s8)]), true);
  };

  /** Any other command from a gateway: only from a registered one, under its mechanism. */
  const onUplink = async (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> => {
    const route = liveRoute(byDomain.get(endpointDomain(cmd.endpoint) ?? ''));
    if (!route) {
      counters.notRegistered++;
      return { code: 510, text: 'Protocol error: not registered' };
    }
    if (route.rec.uplink) {
      const verdict = verifyCommand(cmd, route.rec.uplink);
      if (verdict !== 'ok') {
        counters.hmacRejected[verdict]++;
        authOutcome(o.ids, 'mgcp', false, 'app-hmac', route.rec.idc, from.host, from.port, `app-hmac ${verdict}`);
        o.logger?.warn({ idc: route.rec.idc, verb: cmd.verb, verdict }, 'mgcp app-hmac refused');
        return { code: 510, text: `Protocol error: app-hmac ${verdict}` };
      }
      // The tag proves it is the gateway: follow it if its address changed (NAT rebinding).
      route.address = from;
    }
    counters.forwardedUp++;
    return relay(await toCore(cmd, withoutKs(hop(cmd.params))), true);
  };

  const onAccessCommand = (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> | MgcpReply | null => {
    const v = screenCommand(o.ids, 'mgcp', cmd.verb, cmd.endpoint, from.host, from.port);
    if (v) return v.kind === 'reject' ? (v.status === 503 ? { code: 400, text: 'Transient error' } : { code: 510, text: 'Protocol error: refused' }) : null;
    const step = ksStep(cmd.verb, cmd.params);
    if (step === 's1') return onS1(cmd, from);
    if (step === 'response') return onS7(cmd, from);
    return onUplink(cmd, from);
  };

  // ---------- softswitch → SBC ----------

  const toGateway = (to: MgcpPeer, cmd: MgcpCommand, params: MgcpParam[]): Promise<SendResult> => {
    const out: Omit<MgcpCommand, 'kind' | 'tid'> = { verb: cmd.verb, endpoint: cmd.endpoint, version: cmd.version, params };
    if (cmd.profile !== undefined) out.profile = cmd.profile;
    return access.send(to, out);
  };

  const onS5 = async (cmd: MgcpCommand): Promise<MgcpReply> => {
    const d = readS5(cmd.params);
    if (!d.ok) return badRequest(d.field);
    const gw = livePending(d.value.idc);
    if (!gw) return { code: 500, text: 'Endpoint unknown' };
    const r = await flow.onChallenge(d.value, { n1: gw.askedBy });
    if (!r.ok) return reject(r);
    const result = d.value.result ?? gw.result;
    if (result === 'failed') authOutcome(o.ids, 'mgcp', false, 'ks1', d.value.idc, gw.address.host, gw.address.port, 'wrong response');
    gw.result = undefined;
    gw.pending = undefined;
    return relay(await toGateway(gw.address, cmd, [...withoutKs(hop(cmd.params)), ...s6Params(r.s6, result)]), false);
  };

  const onS9 = async (cmd: MgcpCommand): Promise<MgcpReply> => {
    const d = readS9(cmd.params);
    if (!d.ok) return badRequest(d.field);
    const gw = livePending(d.value.idc);
    if (!gw?.pending) return { code: 500, text: 'Endpoint unknown' };
    const r = flow.onAccepted(d.value, gw.pending);
    if (!r.ok) return reject(r);
    pendingByIdc.delete(d.value.idc);
    const idc = r.session.idc;
    const domain = endpointDomain(gw.endpoint) ?? '';
    const rec = sessions.accept(r.session, 'mgcp', `${gw.address.host}:${gw.address.port}`, clock() + ttlMs);
    const old = routes.get(idc);
    if (old && byDomain.get(old.domain) === idc) byDomain.delete(old.domain);
    routes.set(idc, { address: gw.address, domain, rec });
    byDomain.set(domain, idc);
    counters.registered++;
    authOutcome(o.ids, 'mgcp', true, 'ks1', idc, gw.address.host, gw.address.port);
    const res = await toGateway(gw.address, cmd, [...withoutKs(hop(cmd.params)), ...s10Params(r.s10)]);
    // A gateway that refuses s10 (bad MAC, downgrade) has no session to protect.
    if (!res.ok || res.response.code >= 300) {
      if (sessions.get(idc) === rec) sessions.remove(idc);
      routes.delete(idc);
      if (byDomain.get(domain) === idc) byDomain.delete(domain);
    }
    return relay(res, false);
  };

  /** Any other command from the softswitch: to a registered gateway, signed. */
  const onDownlink = async (cmd: MgcpCommand): Promise<MgcpReply> => {
    const route = liveRoute(byDomain.get(endpointDomain(cmd.endpoint) ?? ''));
    if (!route) return { code: 500, text: 'Endpoint unknown' };
    let out: MgcpCommand = { kind: 'command', verb: cmd.verb, tid: access.nextTid(), endpoint: cmd.endpoint, version: cmd.version, params: withoutKs(hop(cmd.params)) };
    if (cmd.profile !== undefined) out.profile = cmd.profile;
    if (cmd.sdp !== undefined) out.sdp = cmd.sdp;
    if (route.rec.downlink) out = protectCommand(out, route.rec.downlink);
    counters.forwardedDown++;
    return relay(await access.send(route.address, out), false);
  };

  const onCoreCommand = (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> | MgcpReply | null => {
    if (!ss.isMember(from.host, from.port)) {
      counters.foreignCore++;
      return null;
    }
    const step = ksStep(cmd.verb, cmd.params);
    if (step === 'challenge') return onS5(cmd);
    if (step === 'success') return onS9(cmd);
    return onDownlink(cmd);
  };

  const tap = (side: 'access' | 'core') => (o.onPacket ? { onPacket: (dir: 'in' | 'out', data: Buffer, peer: MgcpPeer) => o.onPacket!(side, dir, data, peer) } : {});
  access = await MgcpTransport.open({
    host: o.listen?.host ?? '0.0.0.0',
    port: o.listen?.port ?? CALL_AGENT_PORT,
    onCommand: onAccessCommand,
    ...(o.logger ? { logger: o.logger } : {}),
    ...tap('access'),
    ...(o.socketWaitHighMs ? { measureWait: true } : {}),
    ...o.transport,
  });
  try {
    core = await MgcpTransport.open({
      host: o.core?.host ?? '0.0.0.0',
      port: o.core?.port ?? 0,
      onCommand: onCoreCommand,
      ...(o.logger ? { logger: o.logger } : {}),
      ...tap('core'),
      ...o.transport,
    });
  } catch (err) {
    await access.close();
    throw err;
  }

  const sweeper = setInterval(() => {
    const now = clock();
    for (const [k, v] of pendingByIdc) if (v.expiresAt <= now) pendingByIdc.delete(k);
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
      sessions: sessions.size,
      pending: pendingByIdc.size,
      flow: flow.stats,
      gate: { ...gate.stats() },
    }),
    async close() {
      clearInterval(sweeper);
      await Promise.all([access.close(), core.close()]);
    },
  };
}
