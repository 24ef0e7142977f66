import type { AucService } from '../contracts/auc.js';
import { SoftswitchFlow, type SoftswitchOptions, type SwChallenge } from '../flow/softswitch.js';
import type { S5, S9 } from '../flow/messages.js';
import {
  decodeS2, decodeS8, echoReply, encodeS5, encodeS9, ksStep, rootCommand, serviceChangeReply,
} from '../adapters/h248/ks-mapping.js';
import { softswitchError } from '../adapters/h248/outcomes.js';
import { H248_ERROR } from '../h248/errors.js';
import { replyError } from '../h248/descriptors.js';
import { H248Endpoint, peerKey, type IncomingRequest, type Peer, type ReplyContent, type TransportStats, type TransportTimers } from '../h248/transport.js';
import type { Logger } from '../log/logger.js';

/**
 * The softswitch as H.248 media gateway controller: answers ServiceChange
 * (s2) and Notify ks/auth (s8) through the SoftswitchFlow and sends the
 * Modify requests on ROOT that carry the challenge (s5) and the success (s9).
 * Peers are an address and an mId: an SBC sends every gateway's messages from
 * one socket, each under that gateway's name, and what is sent for a gateway
 * carries its name back (namedPeers; docs/h248.md, "One core socket"). Other
 * commands from a registered peer get a plain reply.
 */

export const MGC_PORT = 2944;

export interface H248SoftswitchOptions {
  listen: { host: string; port: number };
  auc: AucService;
  /** Our mId; default `[host]:port`. */
  mid?: string;
  registrationTtlSec?: number;
  /**
   * Registered peers remembered at once (default 100,000). Each is an address
   * and an mId: a gateway behind an SBC. Past it the registration that expires first is forgotten (its
   * next command is answered 401, not registered, and it registers again).
   */
  maxPeers?: number;
  flow?: Omit<SoftswitchOptions, 'auc'>;
  timers?: Partial<TransportTimers>;
  logger?: Logger;
  /** Each registration step (ServiceChange s2, Notify s8) answered, with how and how long it took (docs/metrics.md). */
  onRegistrationStep?: (result: 'accepted' | 'challenged' | 'refused' | 'unavailable', seconds: number) => void;
}

export interface H248SoftswitchStats {
  /** s2 handled (ServiceChange with X-KSIDC), not counting duplicates answered from the cache. */
  registers: number;
  /** s8 handled. */
  authenticates: number;
  accepted: number;
  /** Other commands from registered peers. */
  commands: number;
  refused: number;
  /** Registrations of an IDc the AuC refused (unknown, disabled, locked): challenged and failed like a wrong key, logged with the reason. */
  refusedIdentities: number;
  registered: number;
  transport: TransportStats;
}

export interface H248SoftswitchHandle {
  port: number;
  stats(): H248SoftswitchStats;
  /** Registered gateways as this MGC sees them. */
  registered(): { idc: string; mid: string; peer: Peer; mechanism: string; expiresAt: number }[];
  close(): void;
}

interface PeerState {
  idc: string;
  mid: string;
  peer: Peer;
  mechanism: string;
  expiresAt: number;
}

export async function startH248Softswitch(o: H248SoftswitchOptions): Promise<H248SoftswitchHandle> {
  const flow = new SoftswitchFlow({ auc: o.auc, ...o.flow });
  const ttlMs = (o.registrationTtlSec ?? 3600) * 1000;
  const maxPeers = o.maxPeers ?? 100_000;
  /** In order of expiry: every registration lasts ttlMs, and one made again is moved to the end. */
  const peers = new Map<string, PeerState>();
  // A gateway registering again leaves a hole where it was, near the head once gateways re-register in turn, and a
  // walk from the head crosses every hole left since the Map last rehashed: the expired head is swept at most every
  // 100 ms (a lookup checks expiry itself), or at once when the table is full.
  let nextSweep = 0;
  const remember = (key: string, st: PeerState): void => {
    peers.delete(key);
    const now = Date.now();
    if (now >= nextSweep || peers.size >= maxPeers) {
      nextSweep = now + 100;
      for (const [k, p] of peers) {
        if (p.expiresAt > now && peers.size < maxPeers) break;
        peers.delete(k);
      }
    }
    peers.set(key, st);
  };
  const counts = { registers: 0, authenticates: 0, accepted: 0, commands: 0, refused: 0, refusedIdentities: 0 };
  let requestId = 0;
  let ep!: H248Endpoint;

  const later = (fn: () => Promise<unknown>) => setImmediate(() => void fn().catch((err: unknown) => o.logger?.warn({ err: (err as Error).message }, 'h248 mgc: send failed')));

  /** The gateway sees what a wrong key gets (docs/softswitch.md, "Unknown, disabled, locked"); the reason is for the log. */
  const noteRefusal = (out: SwChallenge, peer: Peer) => {
    if (!out.refused) return;
    counts.refusedIdentities++;
    o.logger?.warn({ idc: out.s5.idc, reason: out.refused, protocol: 'h248', peer: peerKey(peer) }, 'h248 mgc: registration of a refused identity (answered as a wrong key)');
  };

  const sendChallenge = (peer: Peer, s5: S5) =>
    later(async () => {
      const res = await ep.request(peer, encodeS5(s5, (requestId = (requestId % 0xfffffff0) + 1)));
      if (!res.ok) o.logger?.info({ peer: peerKey(peer), idc: s5.idc }, 'h248 mgc: challenge unanswered');
    });

  const sendAccepted = (peer: Peer, s9: S9) =>
    later(async () => {
      const res = await ep.request(peer, encodeS9(s9));
      const err = res.ok ? replyError(res.reply) : undefined;
      if (!res.ok || err) {
        // The gateway (or SBC) did not take the session key: the binding does not stand.
        peers.delete(peerKey(peer));
        o.logger?.info({ peer: peerKey(peer), idc: s9.idc, code: err?.code }, 'h248 mgc: success not accepted');
      }
    });

  async function onRequest(req: IncomingRequest): Promise<ReplyContent> {
    const t = req.transaction;
    const cmd = rootCommand(t);
    const step = cmd && ksStep(cmd);
    const key = peerKey(req.peer);
    if (step === 'register') {
      counts.registers++;
      const d = decodeS2(cmd!);
      if (!d.ok) return { error: d.error };
      const out = await flow.onRegister(d.value);
      if (out.kind === 'challenge') {
        noteRefusal(out, req.peer);
        sendChallenge(req.peer, out.s5);
        return { actions: serviceChangeReply() };
      }
      counts.refused++;
      o.logger?.warn({ peer: key, outcome: out.kind, reason: 'reason' in out ? out.reason : 'cause' in out ? out.cause : out.field }, 'h248 mgc: registration refused');
      return { error: softswitchError(out)! };
    }
    if (step === 'authenticate') {
      counts.authenticates++;
      const d = decodeS8(cmd!);
      if (!d.ok) return { error: d.error };
      const expiresAt = Date.now() + ttlMs;
      const out = await flow.onAuthenticate(d.value, { protocol: 'h248', contact: req.message.mid, expiresAt, ipc: d.value.ipc ?? req.peer.address });
      if (out.kind === 'accepted') {
        counts.accepted++;
        remember(key, { idc: out.s9.idc, mid: req.message.mid, peer: req.peer, mechanism: d.value.mech ?? '', expiresAt });
        if (!out.reported) setTimeout(() => void o.auc.registered(out.report).catch(() => o.logger?.warn({ idc: out.report.idc }, 'h248 mgc: s11 not delivered')), 1000).unref();
        sendAccepted(req.peer, out.s9);
        return { actions: echoReply(t.actions) };
      }
      if (out.kind === 'challenge') {
        noteRefusal(out, req.peer);
        sendChallenge(req.peer, out.s5);
      } else counts.refused++;
      return { error: softswitchError(out) ?? { code: H248_ERROR.unauthorized } };
    }
    const st = peers.get(key);
    if (!st || st.expiresAt <= Date.now()) {
      if (st) peers.delete(key);
      return { error: { code: H248_ERROR.unauthorized, text: 'not registered' } };
    }
    counts.commands++;
    return { actions: echoReply(t.actions) };
  }

  const observe = o.onRegistrationStep;
  const timed = async (req: IncomingRequest): Promise<ReplyContent> => {
    const cmd = observe ? rootCommand(req.transaction) : undefined;
    const step = cmd && ksStep(cmd);
    if (!observe || (step !== 'register' && step !== 'authenticate')) return onRequest(req);
    const t0 = process.hrtime.bigint();
    const reply = await onRequest(req);
    // 402: a new challenge follows (wrong authenticator); 503: the AuC is unreachable (adapters/h248/outcomes.ts)
    const code = 'error' in reply && reply.error ? reply.error.code : undefined;
    const result = code === undefined ? (step === 'register' ? 'challenged' : 'accepted') : code === H248_ERROR.unauthorized ? 'challenged' : code === H248_ERROR.unavailable ? 'unavailable' : 'refused';
    observe(result, Number(process.hrtime.bigint() - t0) / 1e9);
    return reply;
  };

  const host = o.listen.host;
  ep = await H248Endpoint.bind(o.listen, {
    mid: o.mid ?? 'pending',
    namedPeers: true,
    onRequest: timed,
    ...(o.timers ? { timers: o.timers } : {}),
    onEvent: (event, detail) => o.logger?.warn(detail, `h248 mgc: ${event}`),
  });
  const mid = o.mid ?? `[${host.includes(':') || /^[\d.]+$/.test(host) ? host : '127.0.0.1'}]:${ep.port}`;
  ep.mid = mid;

  return {
    port: ep.port,
    stats: () => ({ ...counts, registered: peers.size, transport: ep.stats() }),
    registered: () => [...peers.values()].map((p) => ({ ...p })),
    close: () => ep.close(),
  };
}
