import type { SbcReplayState } from '../flow/sbc-state.js';
import { SbcFlow, type SbcOptions, type SbcPending } from '../flow/sbc.js';
import { authOutcome, screenCommand } from './ids-relay.js';
import {
  decodeS1, decodeS5, decodeS7, decodeS9, encodeS2, encodeS6, encodeS8, encodeS10, ksStep, requestIdOf, rootCommand,
} from '../adapters/h248/ks-mapping.js';
import { sbcRejectError } from '../adapters/h248/outcomes.js';
import type { AppHmacVerifier } from '../crypto/app-hmac.js';
import { protect, spiOf, verifyProtected, type AuthVerdict } from '../h248/auth-header.js';
import { replyError, readServiceChange } from '../h248/descriptors.js';
import { H248_ERROR } from '../h248/errors.js';
import { H248Endpoint, peerKey, type IncomingRequest, type Peer, type ReplyContent, type RequestOutcome, type TransportStats, type TransportTimers } from '../h248/transport.js';
import type { ErrorDescriptor, ParsedMessage } from '../h248/types.js';
import { SessionTable, type RegisteredTerminal } from './sessions.js';
import { GatewaySoftswitches, type CoreAddress, type GatewayRelayBase } from './gateway-softswitches.js';
import { GatewayGate, type GatewayGateStats } from './gateway-gate.js';

/**
 * The SBC for H.248 gateways: the MGC as far as gateways see (access side),
 * and one UDP socket toward the softswitch (core side) on which each message's
 * mId names the gateway it is about: the SBC writes `[ip]:port`, the address
 * it receives that gateway from, and the softswitch writes the same name on
 * what it sends for that gateway (docs/h248.md, "One core socket"). Both sides
 * are transaction-stateful: each leg has its own transaction ids,
 * retransmission and reply cache.
 *
 * Flow: s1 → s2 (ServiceChange), s5 → s6 (Modify ks/rand), s7 → s8 (Notify
 * ks/auth), s9 → s10 (Modify ks/ekc; ks/eksp never leaves toward the
 * gateway). After s10 every datagram between gateway and SBC carries the
 * Annex B header under app-hmac (auth-header.ts); a request without a valid
 * one is answered 402 and not forwarded; other datagrams are dropped.
 * Exceptions: an unsigned ServiceChange with X-KSIDC (a fresh registration)
 * and unsigned replies while the s10 Modify is outstanding (a gateway whose
 * MAC check failed cannot sign its refusal).
 */

export const SBC_ACCESS_PORT = 2944;
/** Mechanisms this relay implements for H.248. */
export const H248_MECHANISMS = ['app-hmac'] as const;

export interface H248RelayOptions extends GatewayRelayBase {
  listen: { host: string; port: number };
  /** Address the core socket binds to (default: listen.host). */
  coreHost?: string;
  /** The SBC's mId toward gateways; default `[host]:port`. */
  mid?: string;
  registrationTtlSec?: number;
  maxGateways?: number;
  /** A gateway with no registration and no traffic for this long is forgotten. */
  idleSec?: number;
  flow?: Omit<SbcOptions, 'idsp' | 'ksp' | 'offered'>;
  timers?: Partial<TransportTimers>;
}

export interface H248RelayStats {
  gateways: number;
  registered: number;
  refused: number;
  rechallenged: number;
  forwarded: number;
  /** Requests sent on to the next softswitch after the one tried answered nothing. */
  softswitchFailovers: number;
  /** Datagrams on the core socket from anyone but the softswitches (a request is answered with an error, not handled). */
  foreignCore: number;
  /** Requests from a softswitch naming no gateway the SBC knows (answered 504, sent nowhere). */
  unknownGateway: number;
  /** New registrations (s1) refused 503: maxCorePending commands waited for the softswitch, or the gate's share (socketWaitHighMs). */
  shed: number;
  authRejected: Record<Exclude<AuthVerdict, 'ok'>, number>;
  gate: GatewayGateStats;
  access: TransportStats;
  core: TransportStats;
}

export interface H248RelayHandle {
  port: number;
  sessions: SessionTable;
  stats(): H248RelayStats;
  close(): void;
}

interface Gateway {
  peer: Peer;
  key: string;
  /** The gateway's mId on the core leg: its source address, written by the SBC, never taken from the gateway. */
  name: string;
  /** The softswitch side of this gateway's conversations: each softswitch address (the list's own objects) with `name` (Peer.mid). */
  core: Map<CoreAddress, Peer>;
  idc?: string;
  /** The N1 the next s6 must echo (from s1, or the last s7). */
  askedBy?: Buffer;
  pending?: SbcPending;
  spi?: number;
  /**
   * While s10 is outstanding: the session the gateway still protects with (it takes the new one from s10), so
   * what it sends meanwhile (its s7 again, a Notify) is checked under that session's key, not refused as wrong-spi.
   */
  previous?: { spi: number; uplink: AppHmacVerifier };
  awaitingS10: boolean;
  lastSeen: number;
}

function isRegistration(m: ParsedMessage): boolean {
  const t = m.transactions.length === 1 ? m.transactions[0]! : undefined;
  if (t?.type !== 'request') return false;
  const cmd = rootCommand(t);
  return !!cmd && cmd.name === 'ServiceChange' && ksStep(cmd) === 'register';
}

export async function startH248Relay(o: H248RelayOptions): Promise<H248RelayHandle> {
  const offered = (o.sbc.offered ?? [{ name: 'app-hmac', q: 1 }]).filter((m) => (H248_MECHANISMS as readonly string[]).includes(m.name.toLowerCase()));
  if (!offered.length) throw new RangeError('the H.248 relay implements only app-hmac');
  const flow = new SbcFlow<SbcReplayState>({
    ...(o.replayState ? { state: o.replayState } : {}), idsp: o.sbc.idsp, ksp: o.sbc.ksp, offered, ...o.flow });
  const clock = o.flow?.clock ?? Date.now;
  const sessions = o.sessions ?? new SessionTable(clock);
  const ttlMs = (o.registrationTtlSec ?? 3600) * 1000;
  const idleMs = (o.idleSec ?? 120) * 1000;
  /** Gateways by source address, then port: found per datagram without an `address|port` string each time. */
  const gateways = new Map<string, Map<number, Gateway>>();
  const known = (peer: Peer): Gateway | undefined => gateways.get(peer.address)?.get(peer.port);
  /** The same gateways by core-leg name (one per address and port, so its size is their count): a softswitch's request goes to the gateway its mId names, or nowhere. */
  const byName = new Map<string, Gateway>();
  const counts = { refused: 0, rechallenged: 0, forwarded: 0, foreignCore: 0, unknownGateway: 0, shed: 0 };
  const authRejected: H248RelayStats['authRejected'] = { missing: 0, 'bad-tag': 0, replayed: 0, 'too-old': 0, 'wrong-spi': 0 };
  // Replies are matched by source address: give the softswitch as an IP address.
  const softswitches = new GatewaySoftswitches(o.softswitch, o.pool, o.noAnswerMs, o.maxCorePending);
  /** To the first live softswitch; one silent for the no-answer time is marked down and the next one gets it. */
  const toSoftswitch = (gw: Gateway, actions: Parameters<H248Endpoint['request']>[1]): Promise<RequestOutcome> =>
    softswitches.send((to) => core.request(corePeer(gw, to), actions), (r) => r.ok);
  /** One Peer object per gateway and softswitch, made once: the transport keys its tables by it. */
  const corePeer = (gw: Gateway, to: CoreAddress): Peer => {
    let p = gw.core.get(to);
    if (!p) gw.core.set(to, (p = { address: to.host, port: to.port, mid: gw.name }));
    return p;
  };
  const coreHost = o.coreHost ?? o.listen.host;
  let access!: H248Endpoint;
  let core!: H248Endpoint;
  const gate = new GatewayGate({ waitHighMs: o.socketWaitHighMs ?? 0 }, () => access.waitMs());

  const sessionOf = (gw: Gateway | undefined): RegisteredTerminal | undefined => {
    if (!gw?.idc || gw.spi === undefined) return undefined;
    const rec = gw.idc ? sessions.get(gw.idc) : undefined;
    return rec && rec.protocol === 'h248' && rec.address === gw.key ? rec : undefined;
  };

  /** A reply from one side as the answer on the other. The softswitch's error texts stay on the trusted side: a gateway gets the code alone. */
  const relayed = (res: RequestOutcome, side: 'softswitch' | 'gateway'): ReplyContent => {
    if (!res.ok) return { error: { code: H248_ERROR.unavailable, text: `${side} did not answer` } };
    if (!res.reply.error) return { actions: res.reply.actions };
    return { error: side === 'softswitch' ? { code: res.reply.error.code } : res.reply.error };
  };

  function gatewayFor(peer: Peer): Gateway | undefined {
    let ports = gateways.get(peer.address);
    let gw = ports?.get(peer.port);
    if (gw) return gw;
    if (byName.size >= (o.maxGateways ?? 10_000)) return undefined;
    // An IPv6 literal in brackets is an mId as it stands (RFC 3525 domainAddress).
    gw = { peer, key: peerKey(peer), name: `[${peer.address}]:${peer.port}`, core: new Map(), awaitingS10: false, lastSeen: clock() };
    if (!ports) gateways.set(peer.address, (ports = new Map()));
    ports.set(peer.port, gw);
    byName.set(gw.name, gw);
    return gw;
  }

  function forget(gw: Gateway): void {
    const ports = gateways.get(gw.peer.address);
    if (!ports?.delete(gw.peer.port)) return;
    if (ports.size === 0) gateways.delete(gw.peer.address);
    byName.delete(gw.name);
  }

  /** A softswitch's request: to the gateway its mId names, known here; anything else is refused, never sent on. */
  function fromSoftswitch(req: IncomingRequest): Promise<ReplyContent> | ReplyContent {
    const gw = req.peer.mid === undefined ? undefined : byName.get(req.peer.mid);
    if (!gw) {
      counts.unknownGateway++;
      return { error: { code: H248_ERROR.unauthorizedEntity, text: 'no such gateway' } };
    }
    return fromCore(gw, req);
  }

  async function register(gw: Gateway, req: IncomingRequest): Promise<ReplyContent> {
    const cmd = rootCommand(req.transaction)!;
    const d = decodeS1(cmd);
    if (!d.ok) return { error: d.error };
    const r = await flow.onRegister(d.value);
    if (!r.ok) {
      counts.refused++;
      return { error: sbcRejectError(r) };
    }
    gw.idc = d.value.idc;
    gw.askedBy = d.value.n1;
    gw.pending = undefined;
    const reason = readServiceChange(cmd)?.reason;
    return relayed(await toSoftswitch(gw, encodeS2(r.s2, reason)), 'softswitch');
  }

  async function authenticate(gw: Gateway, req: IncomingRequest): Promise<ReplyContent> {
    const d = decodeS7(rootCommand(req.transaction)!);
    if (!d.ok) return { error: d.error };
    const r = await flow.onAuthenticate(d.value, req.peer.address);
    if (!r.ok) {
      if (r.kind === 'rechallenge') {
        counts.rechallenged++;
        gw.askedBy = d.value.n1;
        gw.idc = d.value.idc;
        const s2 = r.s2;
        setImmediate(() => void toSoftswitch(gw, encodeS2(s2)));
      } else counts.refused++;
      return { error: sbcRejectError(r) };
    }
    gw.pending = r.pending;
    gw.askedBy = d.value.n1;
    return relayed(await toSoftswitch(gw, encodeS8(r.s8, d.value.requestId)), 'softswitch');
  }

  async function fromGateway(req: IncomingRequest): Promise<ReplyContent> {
    const gw = gatewayFor(req.peer);
    if (!gw) return { error: { code: H248_ERROR.unavailable, text: 'too many gateways' } };
    gw.lastSeen = clock();
    const cmd = rootCommand(req.transaction);
    const step = cmd && ksStep(cmd);
    if (step === 'register') {
      // overloaded: a new registration waits for none of the softswitch's time; those started are finished
      if (softswitches.full() || gate.refuse()) {
        counts.shed++;
        return { error: { code: H248_ERROR.unavailable, text: 'overloaded' } };
      }
      return register(gw, req);
    }
    if (step === 'authenticate') return authenticate(gw, req);
    if (!sessionOf(gw)) return { error: { code: H248_ERROR.unauthorized, text: 'not registered' } };
    counts.forwarded++;
    return relayed(await toSoftswitch(gw, req.transaction.actions), 'softswitch');
  }

  async function fromCore(gw: Gateway, req: IncomingRequest): Promise<ReplyContent> {
    const cmd = rootCommand(req.transaction);
    const step = cmd && ksStep(cmd);
    if (step === 'challenge') {
      const d = decodeS5(cmd!);
      if (!d.ok) return { error: d.error };
      if (!gw.askedBy) return { error: { code: H248_ERROR.internal, text: 'no registration in progress' } };
      // a challenge while an s7 is outstanding: the core refused its answer
      if (gw.pending) authOutcome(o.ids, 'h248', false, 'ks1', gw.idc, gw.peer.address, gw.peer.port, 'wrong response');
      gw.pending = undefined;
      const r = await flow.onChallenge(d.value, { n1: gw.askedBy });
      if (!r.ok) return { error: sbcRejectError(r) };
      return relayed(await access.request(gw.peer, encodeS6(r.s6, requestIdOf(cmd!))), 'gateway');
    }
    if (step === 'accepted') {
      const d = decodeS9(cmd!);
      if (!d.ok) return { error: d.error };
      const pending = gw.pending;
      if (!pending) return { error: { code: H248_ERROR.internal, text: 'no registration in progress' } };
      const r = flow.onAccepted(d.value, pending);
      if (!r.ok) return { error: sbcRejectError(r) };
      gw.pending = undefined;
      const before = sessionOf(gw);
      if (before?.uplink && gw.spi !== undefined) gw.previous = { spi: gw.spi, uplink: before.uplink };
      sessions.accept(r.session, 'h248', gw.key, clock() + ttlMs);
      authOutcome(o.ids, 'h248', true, 'ks1', r.session.idc, gw.peer.address, gw.peer.port);
      gw.idc = r.session.idc;
      gw.spi = spiOf(r.session.keys.sessionKey);
      gw.awaitingS10 = true;
      const res = await access.request(gw.peer, encodeS10(r.s10));
      gw.awaitingS10 = false;
      gw.previous = undefined;
      const err = res.ok ? replyError(res.reply) : undefined;
      if (!res.ok || err) {
        sessions.remove(r.session.idc);
        gw.spi = undefined;
      }
      return relayed(res, 'gateway');
    }
    if (!sessionOf(gw)) return { error: { code: H248_ERROR.unauthorized, text: 'gateway not registered' } };
    return relayed(await access.request(gw.peer, req.transaction.actions), 'gateway');
  }

  /** Annex B check on every datagram from a registered gateway. */
  function inbound(peer: Peer, msg: ParsedMessage, datagram: Buffer): ErrorDescriptor | undefined {
    // H.248 answers every request: the IDS's drop is an error answer here, to the sender only.
    if (screenCommand(o.ids, 'h248', isRegistration(msg) ? 'SERVICECHANGE' : 'REQUEST', msg.mid, peer.address, peer.port)) return { code: H248_ERROR.unauthorized, text: 'refused' };
    const gw = known(peer);
    const rec = sessionOf(gw);
    if (!rec?.uplink) return undefined;
    if (!msg.auth) {
      if (isRegistration(msg)) return undefined;
      if (gw!.awaitingS10 && msg.transactions.every((t) => t.type !== 'request')) return undefined;
    }
    const previous = msg.auth && gw!.previous?.spi === msg.auth.spi ? gw!.previous : undefined;
    const verdict = previous ? verifyProtected(previous.uplink, previous.spi, msg, datagram) : verifyProtected(rec.uplink, gw!.spi!, msg, datagram);
    if (verdict === 'ok') return undefined;
    authRejected[verdict]++;
    authOutcome(o.ids, 'h248', false, 'app-hmac', rec.idc, peer.address, peer.port, `annex-b ${verdict}`);
    o.logger?.warn({ idc: rec.idc, verdict }, 'h248 sbc: message refused (Annex B header)');
    return { code: H248_ERROR.unauthorized, text: `authentication header ${verdict}` };
  }

  function outbound(peer: Peer, text: string): Buffer {
    const gw = known(peer);
    const rec = sessionOf(gw);
    return rec?.downlink ? protect(rec.downlink, gw!.spi!, text) : Buffer.from(text, 'utf8');
  }

  access = await H248Endpoint.bind(o.listen, {
    mid: o.mid ?? 'unset',
    onRequest: fromGateway,
    inbound,
    outbound,
    ...(o.timers ? { timers: o.timers } : {}),
    ...(o.socketWaitHighMs ? { measureWait: true } : {}),
    onEvent: (event, detail) => o.logger?.warn(detail, `h248 sbc: ${event}`),
  });
  const host = o.listen.host;
  access.mid = o.mid ?? `[${host.includes(':') || /^[\d.]+$/.test(host) ? host : '127.0.0.1'}]:${access.port}`;
  try {
    core = await H248Endpoint.bind({ host: coreHost, port: 0 }, {
      // Every core-leg message carries a gateway's name (namedPeers); this one heads only a message-level error.
      mid: access.mid,
      namedPeers: true,
      onRequest: fromSoftswitch,
      inbound: (peer) => {
        if (softswitches.isMember(peer.address, peer.port)) return undefined;
        counts.foreignCore++;
        return { code: H248_ERROR.unauthorizedEntity, text: 'not a softswitch' };
      },
      ...(o.timers ? { timers: o.timers } : {}),
      onEvent: (event, detail) => o.logger?.warn(detail, `h248 sbc core: ${event}`),
    });
  } catch (err) {
    access.close();
    throw err;
  }

  const sweeper = setInterval(() => {
    const now = clock();
    for (const ports of gateways.values()) {
      for (const gw of ports.values()) if (!sessionOf(gw) && !gw.pending && now - gw.lastSeen > idleMs) forget(gw);
    }
  }, 5000).unref();

  return {
    port: access.port,
    sessions,
    stats: () => {
      let registered = 0;
      for (const ports of gateways.values()) for (const gw of ports.values()) if (sessionOf(gw)) registered++;
      return { gateways: byName.size, registered, ...counts, softswitchFailovers: softswitches.failovers, authRejected: { ...authRejected }, access: access.stats(), core: core.stats(), gate: { ...gate.stats() } };
    },
    close: () => {
      clearInterval(sweeper);
      access.close();
      core.close();
      gateways.clear();
      byName.clear();
    },
  };
}
