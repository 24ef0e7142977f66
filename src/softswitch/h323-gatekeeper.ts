/**
 * The softswitch as H.323 gatekeeper (RAS over UDP on the core side). It
 * takes the SBC's GRQ (s2) and answers GRJ securityDenial with the challenge
 * (s5), takes the RRQ carrying the authenticator (s8) and answers RCF with
 * E_Kc and E_Ksp (s9), or RRJ with a new challenge. It never sees Kc, Ksp or
 * Kc,sp. Lightweight RRQs and URQs of KS1 terminals come from the SBC that
 * registered them (it checked their app-hmac token) and are taken from that
 * address only.
 *
 * Plain H.323 endpoints use H.235.1 password tokens: the SBC forwards their
 * message as received inside a relay token, and the gatekeeper checks it
 * with K = SHA-1(password), which it gets from the AuC hidden as a Digest HA1
 * is (never the password), then makes the answer for the endpoint, signed
 * with the same K, for the SBC to pass on unchanged.
 */
import { randomBytes } from 'node:crypto';
import type { AucService, FailureOutcome } from '../contracts/auc.js';
import { SoftswitchFlow, type SoftswitchOptions, type SwChallenge } from '../flow/softswitch.js';
import type { Clock, RandomBytes } from '../flow/messages.js';
import { DEFAULT_TS_WINDOW_SEC } from '../flow/replay.js';
import { RasTransport, type RasAnswer, type RasPeer, type RasRequest, type RasTimers, type RasTransportStats } from '../h323/transport.js';
import { decodeRas, encodeRas, type ClearToken, type RasMessage, type RegistrationRequest, type UnregistrationRequest } from '../h323/index.js';
import { ks1Token, readS2, readS8, s5Token, s9Token, tokenHas } from '../adapters/h323/ks1.js';
import { EL, KS_OID } from '../adapters/h323/oids.js';
import { firstH323Id, grj, R, rcf, reasonName, rrj, ucf, urj, urq } from '../adapters/h323/messages.js';
import { softswitchReason } from '../adapters/h323/outcomes.js';
import { H2351Replay, h2351HashOk, h2351Token, signH2351, tsFresh } from '../adapters/h323/h2351.js';
import type { Logger } from '../log/logger.js';

export const GATEKEEPER_PORT = 11719;

export interface H323GatekeeperOptions {
  listen: { host: string; port: number };
  auc: AucService;
  /** This gatekeeper's identifier on the core leg. */
  gatekeeperId?: string;
  /** timeToLive granted when the RRQ asks none, and the most granted (seconds). */
  timeToLive?: { default: number; max: number };
  /** H.235.1 time stamp window (±seconds). */
  tsWindowSec?: number;
  flow?: Omit<SoftswitchOptions, 'auc'>;
  timers?: Partial<RasTimers>;
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  onPacket?: (dir: 'in' | 'out', data: Buffer, peer: RasPeer) => void;
  /** Each registration step (GRQ s2, RRQ s8, H.235.1 RRQ) answered, with how and how long it took. */
  onRegistrationStep?: (result: 'accepted' | 'challenged' | 'refused' | 'unavailable', seconds: number) => void;
}

export interface H323Registration {
  idc: string;
  idsp: string;
  endpointIdentifier: string;
  /** The SBC the endpoint registered through: its lightweight RRQs and URQs come from there, URQs go there. */
  via: RasPeer;
  /** `ks1` (app-hmac at the SBC) or `h235.1` (password tokens checked here). */
  kind: 'ks1' | 'h235.1';
  mechanism: string;
  timeToLive: number;
  expiresAt: number;
}

export interface H323GatekeeperStats {
  transport: RasTransportStats;
  challenges: number;
  accepted: number;
  keepAlives: number;
  unregistered: number;
  refused: number;
  /** Registrations of an identity the AuC refused (unknown, disabled, locked): failed like a wrong key, logged with the reason. */
  refusedIdentities: number;
  /** H.235.1 messages refused, by why. */
  h2351Rejected: Record<string, number>;
  registered: number;
}

export interface H323Gatekeeper {
  readonly port: number;
  stats(): H323GatekeeperStats;
  registration(idc: string): H323Registration | undefined;
  registered(): H323Registration[];
  /** Unregisters a terminal: URQ through the SBC to a KS1 terminal (whose answer the SBC checks); an H.235.1 endpoint is dropped here only. */
  unregister(idc: string): Promise<'unregistered' | 'not-registered' | 'no-answer'>;
  close(): Promise<void>;
}

/** An RRJ reason as the URJ one that says the same (URJ has no resourceUnavailable nor fullRegistrationRequired). */
function asUnregReject(r: Parameters<typeof rrj>[1]): Parameters<typeof urj>[1] {
  if (r.type === 'fullRegistrationRequired') return R.notCurrentlyRegistered;
  if (r.type === 'securityDenial' || r.type === 'securityError') return r as Parameters<typeof urj>[1];
  return R.undefinedReason;
}

const samePeer = (a: RasPeer, b: RasPeer) => a.port === b.port && a.host === b.host;
type Secured = { tokens?: ClearToken[] };

export async function startH323Gatekeeper(o: H323GatekeeperOptions): Promise<H323Gatekeeper> {
  const clock = o.clock ?? Date.now;
  const random = o.random ?? randomBytes;
  const gkId = o.gatekeeperId ?? 'keyswitch-gatekeeper';
  const ttl = o.timeToLive ?? { default: 300, max: 3600 };
  const windowSec = o.tsWindowSec ?? DEFAULT_TS_WINDOW_SEC;
  const flow = new SoftswitchFlow({ auc: o.auc, clock, ...o.flow });
  const replay = new H2351Replay(windowSec);
  const byEid = new Map<string, H323Registration>();
  const byIdc = new Map<string, string>();
  const counts = { challenges: 0, accepted: 0, keepAlives: 0, unregistered: 0, refused: 0, refusedIdentities: 0 };
  const h2351Rejected: Record<string, number> = {};
  let gkRandom = 1;
  let transport!: RasTransport;

  const grant = (asked: number | undefined) => Math.max(1, Math.min(asked ?? ttl.default, ttl.max));
  const newEid = () => random(8).toString('hex');

  const live = (eid: string | undefined): H323Registration | undefined => {
    if (eid === undefined) return undefined;
    const r = byEid.get(eid);
    if (r && r.expiresAt <= clock()) {
      drop(r);
      return undefined;
    }
    return r;
  };
  const drop = (r: H323Registration) => {
    byEid.delete(r.endpointIdentifier);
    if (byIdc.get(r.idc) === r.endpointIdentifier) byIdc.delete(r.idc);
  };
  const keep = (r: H323Registration) => {
    const old = byIdc.get(r.idc);
    if (old !== undefined) byEid.delete(old);
    byEid.set(r.endpointIdentifier, r);
    byIdc.set(r.idc, r.endpointIdentifier);
  };
  const report = (r: H323Registration, ipc: string, rand?: Buffer) =>
    o.auc.registered({ idc: r.idc, idsp: r.idsp, ipc, protocol: 'h323', contact: r.idc, mechanism: r.mechanism, expiresAt: r.expiresAt, ...(rand ? { rand } : {}) });
  const later = (what: string, p: Promise<unknown>) => void p.catch((err: unknown) => o.logger?.warn({ err: (err as Error).message }, `h323 gatekeeper: ${what} failed`));

  const noteRefusal = (out: SwChallenge) => {
    if (!out.refused) return;
    counts.refusedIdentities++;
    // The terminal sees what a wrong key gets (docs/softswitch.md, "Unknown, disabled, locked"); the reason is for the log.
    o.logger?.warn({ idc: out.s5.idc, reason: out.refused, protocol: 'h323' }, 'h323 gatekeeper: registration of a refused identity (answered as a wrong key)');
  };

  // ------------------------------------------------------------- KS1 (from the SBC)

  async function onS2(req: RasRequest, t: ClearToken): Promise<RasAnswer> {
    const d = readS2(t);
    if (!d.ok) return grj(req.seq, R.undefinedReason);
    const out = await flow.onRegister(d.value);
    if (out.kind === 'challenge') {
      counts.challenges++;
      noteRefusal(out);
      return grj(req.seq, R.securityDenial, { gatekeeperId: gkId, tokens: [s5Token(out.s5)] });
    }
    counts.refused++;
    o.logger?.warn({ outcome: out.kind, why: 'reason' in out ? out.reason : 'cause' in out ? out.cause : out.field }, 'h323 gatekeeper: registration refused');
    return grj(req.seq, softswitchReason(out));
  }

  async function onS8(req: RasRequest, v: RegistrationRequest, t: ClearToken): Promise<RasAnswer> {
    const d = readS8(t);
    if (!d.ok) return rrj(req.seq, R.undefinedReason);
    const timeToLive = grant(v.timeToLive);
    const expiresAt = clock() + timeToLive * 1000;
    const out = await flow.onAuthenticate(d.value, { protocol: 'h323', contact: d.value.idc, expiresAt, ipc: d.value.ipc ?? req.peer.host });
    if (out.kind === 'accepted') {
      counts.accepted++;
      const reg: H323Registration = {
        idc: out.s9.idc, idsp: out.s9.idsp, endpointIdentifier: newEid(), via: req.peer, kind: 'ks1', mechanism: d.value.mech ?? '', timeToLive, expiresAt,
      };
      keep(reg);
      if (!out.reported) setTimeout(() => later('s11', o.auc.registered(out.report)), 1000).unref();
      return rcf(req.seq, { endpointIdentifier: reg.endpointIdentifier, alias: reg.idc, gatekeeperId: gkId, timeToLive, tokens: [s9Token(out.s9)] });
    }
    if (out.kind === 'challenge') {
      counts.challenges++;
      noteRefusal(out);
      const reason = out.reason === 'stale' ? R.securityError('securityReplay') : R.securityDenial;
      return rrj(req.seq, reason, { gatekeeperId: gkId, tokens: [s5Token(out.s5)] });
    }
    counts.refused++;
    return rrj(req.seq, softswitchReason(out));
  }

  function onKs1KeepAlive(req: RasRequest, v: RegistrationRequest): RasAnswer {
    const reg = live(v.endpointIdentifier);
    if (!reg || reg.kind !== 'ks1' || !samePeer(reg.via, req.peer)) return rrj(req.seq, R.fullRegistrationRequired);
    counts.keepAlives++;
    reg.timeToLive = grant(v.timeToLive ?? reg.timeToLive);
    reg.expiresAt = clock() + reg.timeToLive * 1000;
    later('registration refresh', report(reg, reg.via.host));
    return rcf(req.seq, { endpointIdentifier: reg.endpointIdentifier, gatekeeperId: gkId, timeToLive: reg.timeToLive });
  }

  function onKs1Unregister(req: RasRequest, v: UnregistrationRequest): RasAnswer {
    const reg = live(v.endpointIdentifier);
    if (!reg || reg.kind !== 'ks1' || !samePeer(reg.via, req.peer)) return urj(req.seq, R.notCurrentlyRegistered);
    drop(reg);
    counts.unregistered++;
    later('deregistration report', o.auc.deregistered({ idc: reg.idc, idsp: reg.idsp, protocol: 'h323', contact: reg.idc }));
    return ucf(req.seq);
  }

  // ------------------------------------------------------------- H.235.1 (relayed by the SBC)

  const rejectH2351 = (why: string) => {
    h2351Rejected[why] = (h2351Rejected[why] ?? 0) + 1;
  };

  /** The endpoint's message checked and answered; the answer is for the endpoint, with its requestSeqNum. */
  async function h2351(original: Buffer, idsp: string, ipc: string, via: RasPeer): Promise<{ answer: Buffer; accepted: boolean }> {
    const d = decodeRas(original);
    const plain = (m: RasMessage) => ({ answer: encodeRas(m), accepted: false });
    if (!d.ok || (d.message.type !== 'registrationRequest' && d.message.type !== 'unregistrationRequest')) {
      rejectH2351('malformed');
      return { answer: Buffer.alloc(0), accepted: false };
    }
    const m = d.message;
    const seq = (m.value as { requestSeqNum: number }).requestSeqNum;
    const isRrq = m.type === 'registrationRequest';
    const refuse = (why: string, reason: Parameters<typeof rrj>[1]) => {
      rejectH2351(why);
      return plain(isRrq ? rrj(seq, reason) : urj(seq, asUnregReject(reason)));
    };
    const t = h2351Token(m);
    if (!t) return refuse('no-token', R.securityDenial);
    const v = m.value as RegistrationRequest & UnregistrationRequest;
    const fresh = isRrq && !(v as RegistrationRequest).keepAlive;
    // Who it is: the alias of a full RRQ; the registration the endpointIdentifier names otherwise.
    const reg = fresh ? undefined : live(v.endpointIdentifier);
    if (!fresh && (!reg || reg.kind !== 'h235.1' || !samePeer(reg.via, via) || reg.idsp !== idsp)) return refuse('not-registered', R.fullRegistrationRequired);
    const idc = fresh ? firstH323Id((v as RegistrationRequest).terminalAlias) : reg!.idc;
    if (!idc) return refuse('no-alias', R.undefinedReason);
    const senders = fresh ? [idc] : [idc, reg!.endpointIdentifier];
    const now = clock();
    if (t.hashedVals.generalID !== idsp) return refuse('general-id', R.securityError('securityWrongGeneralID'));
    if (t.hashedVals.sendersID !== undefined && !senders.includes(t.hashedVals.sendersID)) return refuse('senders-id', R.securityError('securityWrongSendersID'));
    if (!tsFresh(t, now, windowSec)) return refuse('stale', R.securityError('securityWrongSyncTime'));
    let k;
    try {
      k = await o.auc.digest({ idc, username: idc, realm: idsp, algorithm: 'H235-SHA1' });
    } catch {
      return refuse('auc-unavailable', R.resourceUnavailable);
    }
    // A refused identity is checked against a throw-away key: it fails as a wrong password does, at the same cost.
    const key = k.ok ? Buffer.from(k.ha1, 'hex') : random(20);
    const good = h2351HashOk(original, d.locate, t, key) && k.ok;
    if (!good) {
      if (!k.ok) {
        counts.refusedIdentities++;
        o.logger?.warn({ idc, reason: k.reason, protocol: 'h323' }, 'h323 gatekeeper: H.235.1 message of a refused identity (answered as a wrong password)');
      }
      let failure: FailureOutcome | undefined;
      try {
        failure = await o.auc.failed({ idc, idsp });
      } catch {
        // counted when the AuC is back; the endpoint is refused all the same
      }
      if (failure?.locked) o.logger?.info({ idc }, 'h323 gatekeeper: identity now locked');
      return refuse('bad-hash', R.securityDenial);
    }
    const seen = replay.record(idc, t, now);
    if (seen === 'seen') return refuse('replayed', R.securityError('securityReplay'));
    if (seen === 'full') return refuse('busy', R.resourceUnavailable);
    const sign = (msg: RasMessage, generalID: string) => signH2351(msg, key, { nowMs: clock(), random: gkRandom++ & 0x7fffffff || 1, generalID, sendersID: idsp });
    if (m.type === 'unregistrationRequest') {
      drop(reg!);
      counts.unregistered++;
      later('deregistration report', o.auc.deregistered({ idc, idsp, protocol: 'h323', contact: idc }));
      return { answer: sign(ucf(seq), reg!.endpointIdentifier), accepted: true };
    }
    const timeToLive = grant((v as RegistrationRequest).timeToLive);
    const r: H323Registration = reg ?? { idc, idsp, endpointIdentifier: newEid(), via, kind: 'h235.1', mechanism: '', timeToLive, expiresAt: 0 };
    r.timeToLive = timeToLive;
    r.expiresAt = clock() + timeToLive * 1000;
    if (fresh) {
      counts.accepted++;
      keep(r);
      try {
        await report(r, ipc);
      } catch {
        setTimeout(() => later('s11', report(r, ipc)), 1000).unref();
      }
    } else {
      counts.keepAlives++;
      later('registration refresh', report(r, ipc));
    }
    return { answer: sign(rcf(seq, { endpointIdentifier: r.endpointIdentifier, alias: idc, gatekeeperId: idsp, timeToLive }), r.endpointIdentifier), accepted: true };
  }

  async function onRelayed(req: RasRequest, relay: ClearToken): Promise<RasAnswer> {
    const el = new Map((relay.profileInfo ?? []).map((e) => [e.elementID, e.element]));
    const original = el.get(EL.original);
    const ipc = el.get(EL.ipc);
    const idsp = relay.generalID;
    const reject = (why: string) => {
      rejectH2351(why);
      return req.message.type === 'unregistrationRequest' ? urj(req.seq, R.undefinedReason) : rrj(req.seq, R.undefinedReason);
    };
    if (original?.type !== 'octets' || !idsp) return reject('relay-token');
    const r = await h2351(original.value as Buffer, idsp, ipc?.type === 'name' ? (ipc.value as string) : req.peer.host, req.peer);
    if (r.answer.length === 0) return reject('malformed');
    const relayBack: ClearToken = { tokenOID: KS_OID.relay, generalID: idsp, profileInfo: [{ elementID: EL.answer, element: { type: 'octets', value: r.answer } }] };
    const answered = decodeRas(r.answer);
    // The core answer mirrors the endpoint's (same kind and reason), so that the SBC and a capture read the outcome.
    if (!answered.ok) return reject('answer');
    const a = answered.message;
    if (a.type === 'registrationConfirm') {
      return rcf(req.seq, { endpointIdentifier: a.value.endpointIdentifier, alias: a.value.terminalAlias ? firstH323Id(a.value.terminalAlias) ?? '' : '', gatekeeperId: gkId, ...(a.value.timeToLive ? { timeToLive: a.value.timeToLive } : {}), tokens: [relayBack] });
    }
    if (a.type === 'registrationReject') return rrj(req.seq, a.value.rejectReason, { tokens: [relayBack] });
    if (a.type === 'unregistrationConfirm') return ucf(req.seq, { tokens: [relayBack] });
    if (a.type === 'unregistrationReject') return urj(req.seq, a.value.rejectReason, { tokens: [relayBack] });
    return reject('answer');
  }

  // ------------------------------------------------------------- dispatch

  async function onRequest(req: RasRequest): Promise<RasAnswer> {
    const m = req.message;
    const v = (m as { value: Secured }).value;
    const relay = v.tokens?.find((t) => t.tokenOID === KS_OID.relay);
    if (relay && m.type !== 'gatekeeperRequest') return onRelayed(req, relay);
    const t = ks1Token(v.tokens);
    if (m.type === 'gatekeeperRequest') return t ? onS2(req, t) : grj(req.seq, R.securityDenial);
    if (m.type === 'registrationRequest') {
      const rv = m.value;
      if (rv.keepAlive) return onKs1KeepAlive(req, rv);
      if (t && tokenHas.authenticator(t)) return onS8(req, rv, t);
      return rrj(req.seq, R.securityDenial);
    }
    if (m.type === 'unregistrationRequest') return onKs1Unregister(req, m.value);
    return null;
  }

  const observe = o.onRegistrationStep;
  const timed = async (req: RasRequest): Promise<RasAnswer> => {
    if (!observe) return onRequest(req);
    const t0 = process.hrtime.bigint();
    const answer = await onRequest(req);
    const isStep = req.message.type === 'gatekeeperRequest' || (req.message.type === 'registrationRequest' && !req.message.value.keepAlive);
    if (isStep && answer && !Buffer.isBuffer(answer)) {
      const a = answer as RasMessage;
      const reason = a.type === 'gatekeeperReject' || a.type === 'registrationReject' ? reasonName(a.value.rejectReason) : undefined;
      const result = a.type === 'registrationConfirm' ? 'accepted' : reason === 'resourceUnavailable' ? 'unavailable' : reason === 'securityDenial' || reason === 'securityError/securityReplay' ? 'challenged' : 'refused';
      observe(result, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return answer;
  };

  transport = await RasTransport.open({
    host: o.listen.host,
    port: o.listen.port,
    onRequest: timed,
    ...(o.timers ? { timers: o.timers } : {}),
    ...(o.onPacket ? { onPacket: o.onPacket } : {}),
    onEvent: (event, detail) => o.logger?.warn(detail, `h323 gatekeeper: ${event}`),
  });

  const sweeper = setInterval(() => {
    const now = clock();
    for (const r of byEid.values()) if (r.expiresAt <= now) drop(r);
    flow.sweep();
    replay.sweep(now);
  }, 5000);
  sweeper.unref();

  return {
    port: transport.port,
    stats: () => ({ transport: transport.stats(), ...counts, h2351Rejected: { ...h2351Rejected }, registered: byEid.size }),
    registration: (idc) => live(byIdc.get(idc)),
    registered: () => [...byEid.values()].filter((r) => r.expiresAt > clock()).map((r) => ({ ...r, via: { ...r.via } })),
    async unregister(idc) {
      const reg = live(byIdc.get(idc));
      if (!reg) return 'not-registered';
      drop(reg);
      counts.unregistered++;
      later('deregistration report', o.auc.deregistered({ idc: reg.idc, idsp: reg.idsp, protocol: 'h323', contact: reg.idc }));
      if (reg.kind !== 'ks1') return 'unregistered';
      const res = await transport.request(reg.via, (seq) => urq(seq, { endpointIdentifier: reg.endpointIdentifier, alias: reg.idc, gatekeeperId: gkId, reason: 'maintenance' }));
      return res.ok ? 'unregistered' : 'no-answer';
    },
    async close() {
      clearInterval(sweeper);
      await transport.close();
    },
  };
}
