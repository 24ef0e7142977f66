/**
 * The softswitch as MGCP call agent: takes the gateway's RSIP (s2, relayed
 * by the SBC), asks the AuC, answers the RSIP and sends the challenge as an
 * RQNT (s5); takes the NTFY carrying the response (s8), answers it and sends
 * the result as an RQNT (s9, or a new challenge). It never sees Kc, Ksp or
 * Kc,sp: E_Ksp travels in X-KS-EKSP for the SBC to open.
 */
import { randomWireBytes } from '../crypto/random-pool.js';
import type { AucService } from '../contracts/auc.js';
import { s5Params, s9Params, readS2, readS8, ksStep, withoutKs, type ChallengeResult } from '../adapters/mgcp/params.js';
import { SoftswitchFlow, type SwChallenge } from '../flow/softswitch.js';
import type { Clock, RandomBytes } from '../flow/messages.js';
import type { Logger } from '../log/logger.js';
import { endpointDomain } from '../mgcp/endpoint-name.js';
import { MgcpTransport, CALL_AGENT_PORT, type MgcpPeer, type MgcpReply, type SendResult, type TransportStats, type TransportTimers } from '../mgcp/transport.js';
import { param, type MgcpCommand, type MgcpParam } from '../mgcp/types.js';

export interface MgcpSoftswitchOptions {
  listen?: { host?: string; port?: number };
  auc: AucService;
  /** MGCP has no registration expiry: the binding reported in s11 lasts this long. */
  registrationTtlSec?: number;
  transport?: Partial<TransportTimers>;
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  /** Commands other than the registration steps; default answers 200. */
  onCommand?: (cmd: MgcpCommand, from: MgcpPeer) => MgcpReply | Promise<MgcpReply>;
  onPacket?: (dir: 'in' | 'out', data: Buffer, peer: MgcpPeer) => void;
  /** Each registration step (RSIP s2, NTFY s8) answered, with how and how long it took (docs/metrics.md). */
  onRegistrationStep?: (result: 'accepted' | 'challenged' | 'refused' | 'unavailable', seconds: number) => void;
}

export interface MgcpRegistration {
  idc: string;
  idsp: string;
  endpoint: string;
  /** The SBC (or gateway) it registered through; commands to the gateway go there. */
  via: MgcpPeer;
  mechanism: string;
  expiresAt: number;
}

export interface MgcpSoftswitchStats {
  transport: TransportStats;
  /** Commands handled (duplicates answered from the response cache are not counted). */
  processed: Record<string, number>;
  challenges: number;
  accepted: number;
  refused: number;
  /** Registrations of an IDc the AuC refused (unknown, disabled, locked): challenged and failed like a wrong key, logged with the reason. */
  refusedIdentities: number;
  registered: number;
}

export interface MgcpSoftswitch {
  readonly port: number;
  stats(): MgcpSoftswitchStats;
  registration(idc: string): MgcpRegistration | undefined;
  /** Sends a command to a registered gateway's endpoint (through the SBC it registered through). */
  command(idc: string, verb: string, params?: MgcpParam[], endpoint?: string): Promise<SendResult | { ok: false; error: 'not-registered' }>;
  close(): Promise<void>;
}

const AUTH_EVENT = 'ks/auth';

export async function startMgcpSoftswitch(o: MgcpSoftswitchOptions): Promise<MgcpSoftswitch> {
  const clock = o.clock ?? Date.now;
  const random = o.random ?? randomWireBytes;
  const ttlMs = (o.registrationTtlSec ?? 3600) * 1000;
  const flow = new SoftswitchFlow({ auc: o.auc, clock });
  const registrations = new Map<string, MgcpRegistration>();
  const processed: Record<string, number> = {};
  const counts = { challenges: 0, accepted: 0, refused: 0, refusedIdentities: 0 };
  // an accepted s8 and a new challenge are both answered 200: the metrics tell them apart by this mark
  const acceptedReplies = new WeakSet<MgcpReply>();
  let transport: MgcpTransport;

  const requestId = (): string => random(4).toString('hex');

  const sendRqnt = (to: MgcpPeer, endpoint: string, params: MgcpParam[]): void => {
    void transport.send(to, { verb: 'RQNT', endpoint, version: '1.0', params }).then((r) => {
      if (!r.ok) o.logger?.warn({ endpoint, error: r.error }, 'mgcp RQNT not answered');
    });
  };

  const challenge = (ch: SwChallenge, to: MgcpPeer, endpoint: string, result?: ChallengeResult): void => {
    counts.challenges++;
    if (ch.refused) {
      // The gateway sees what a wrong key gets (docs/softswitch.md, "Unknown, disabled, locked"); the reason is for the log.
      counts.refusedIdentities++;
      o.logger?.warn({ idc: ch.s5.idc, reason: ch.refused, protocol: 'mgcp', endpoint }, 'mgcp: registration of a refused identity (answered as a wrong key)');
    }
    sendRqnt(to, endpoint, [param('X', requestId()), param('R', AUTH_EVENT), ...s5Params(ch.s5, result)]);
  };

  const refuse = (kind: 'forbidden' | 'unavailable' | 'bad-request', detail: string): MgcpReply => {
    counts.refused++;
    o.logger?.warn({ kind, detail, protocol: 'mgcp' }, 'mgcp: registration step refused');
    if (kind === 'forbidden') return { code: 500, text: 'Endpoint unknown: forbidden' };
    if (kind === 'unavailable') return { code: 400, text: `Transient error: ${detail}` };
    return { code: 510, text: `Protocol error: bad ${detail}` };
  };

  const onCommand = async (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> => {
    processed[cmd.verb] = (processed[cmd.verb] ?? 0) + 1;
    const step = ksStep(cmd.verb, cmd.params);
    if (step === 's2') {
      const s2 = readS2(cmd.params);
      if (!s2.ok) return refuse('bad-request', s2.field);
      const out = await flow.onRegister(s2.value);
      if (out.kind === 'challenge') return { code: 200, after: () => challenge(out, from, cmd.endpoint) };
      if (out.kind === 'forbidden') return refuse('forbidden', out.reason);
      if (out.kind === 'unavailable') return refuse('unavailable', out.cause);
      return refuse('bad-request', out.field);
    }
    if (step === 'response') {
      const s8 = readS8(cmd.params);
      if (!s8.ok) return refuse('bad-request', s8.field);
      const expiresAt = clock() + ttlMs;
      const out = await flow.onAuthenticate(s8.value, { protocol: 'mgcp', contact: cmd.endpoint, expiresAt });
      if (out.kind === 'accepted') {
        counts.accepted++;
        registrations.set(out.s9.idc, { idc: out.s9.idc, idsp: out.s9.idsp, endpoint: cmd.endpoint, via: from, mechanism: s8.value.mech ?? '', expiresAt });
        const reply: MgcpReply = { code: 200, after: () => sendRqnt(from, cmd.endpoint, [param('X', requestId()), ...s9Params(out.s9)]) };
        acceptedReplies.add(reply);
        return reply;
      }
      if (out.kind === 'challenge') {
        return { code: 200, after: () => challenge(out, from, cmd.endpoint, out.reason === 'wrong-authenticator' ? 'failed' : 'retry') };
      }
      if (out.kind === 'forbidden') return refuse('forbidden', out.reason);
      if (out.kind === 'unavailable') return refuse('unavailable', out.cause);
      return refuse('bad-request', out.field);
    }
    if (o.onCommand) return o.onCommand({ ...cmd, params: withoutKs(cmd.params) }, from);
    return { code: 200 };
  };

  const observe = o.onRegistrationStep;
  const timed = async (cmd: MgcpCommand, from: MgcpPeer): Promise<MgcpReply> => {
    const step = observe ? ksStep(cmd.verb, cmd.params) : undefined;
    if (!observe || (step !== 's2' && step !== 'response')) return onCommand(cmd, from);
    const t0 = process.hrtime.bigint();
    const reply = await onCommand(cmd, from);
    // refuse(): 400 transient (AuC unavailable), 500/510 refused
    const result = reply.code === 400 ? 'unavailable' : reply.code >= 300 ? 'refused' : acceptedReplies.has(reply) ? 'accepted' : 'challenged';
    observe(result, Number(process.hrtime.bigint() - t0) / 1e9);
    return reply;
  };

  transport = await MgcpTransport.open({
    host: o.listen?.host ?? '0.0.0.0',
    port: o.listen?.port ?? CALL_AGENT_PORT,
    onCommand: timed,
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.onPacket ? { onPacket: o.onPacket } : {}),
    ...o.transport,
  });

  const live = (idc: string): MgcpRegistration | undefined => {
    const r = registrations.get(idc);
    if (r && r.expiresAt <= clock()) {
      registrations.delete(idc);
      return undefined;
    }
    return r;
  };

  return {
    port: transport.port,
    stats: () => ({ transport: transport.stats(), processed: { ...processed }, ...counts, registered: registrations.size }),
    registration: live,
    async command(idc, verb, params = [], endpoint) {
      const r = live(idc);
      if (!r) return { ok: false, error: 'not-registered' };
      const target = endpoint ?? r.endpoint;
      if (endpointDomain(target) !== endpointDomain(r.endpoint)) return { ok: false, error: 'not-registered' };
      return transport.send(r.via, { verb: verb.toUpperCase(), endpoint: target, version: '1.0', params });
    },
    close: () => transport.close(),
  };
}
