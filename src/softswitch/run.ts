/**
 * Starts the softswitch's SIP side: the registrar with KS1 (through SBCs or
 * straight from terminals) and Digest, over UDP and TCP, and optionally a
 * TLS-PSK listener for terminals registered here under `tls-psk`.
 */
import { cidrFilter } from '../radius/client-filter.js';
import type { AucService, DigestAlgorithm } from '../contracts/auc.js';
import type { SessionKeys } from '../crypto/ks1.js';
import { SbcFlow } from '../flow/sbc.js';
import { SoftswitchFlow } from '../flow/softswitch.js';
import type { Mechanism } from '../flow/messages.js';
import type { Logger } from '../log/logger.js';
import { createSipStack, createTcpTransport, createTlsTransport, createUdpTransport, type ServerContext, type SipRequest, type SipStackStats, type SipTransport } from '../sip/index.js';
import { redisUnavailableAnswer } from '../store/redis/unavailable-answer.js';
import { inDialog } from '../sip/proxy/dialog.js';
import type { Store } from '../store/index.js';
import { SoftswitchRegisterHandler, type SoftswitchSipStats } from './sip-register.js';
import { boundedAuc } from './auc-guard.js';
import { DigestAuth, sharedDigestSecret, type DigestOptions } from './digest.js';
import { RedisNonceCounts } from '../store/redis/nonce-counts.js';
import { RedisVectorState } from '../store/redis/softswitch-vectors.js';
import { CallAuthenticator, type CallAuthStats } from './call-auth.js';
import { CoreLinkGate, type CoreLinkStats } from './core-link-gate.js';
import { coreLinkSigner, nextHopAddress, signingRequests } from '../adapters/sip/core-link.js';
import { DEFAULT_EXPIRES, Registrar, type ExpiresPolicy } from './registrar.js';
// ---- call routing and metrics (docs/softswitch-calls.md) ----
import { SoftswitchCallRouter, type CallRouterStats } from './sip-route.js';
import { LocationCache, type LocationCacheStats } from './location-cache.js';
import { SoftswitchMetrics, callSetupResult, registerResult, serveSoftswitchMetrics, type MetricsEndpoint } from './metrics.js';
import { isCallProgress, isFinal, timedContext } from '../metrics/sip-timing.js';
import type { MetricsRegistry } from '../metrics/index.js';
import { listenAddress, startListener, type Health, type ListenerHealth } from '../metrics/health.js';
import { startMetricsServer } from '../metrics/server.js';
import type { BindingDecision, LocationStore, SipBinding } from '../store/bindings.js';
import type { VoicemailPolicy } from './voicemail-policy.js';
import { SbcPool } from './sbc-pool.js';

export interface CallRoutingOptions {
  /** How long an AoR's bindings read from the store are reused (default 2000 ms; changes made by this process apply at once). */
  locationCacheTtlMs?: number;
  /** A contact with no final answer after this long is cancelled and the next one tried (default 60000 ms). */
  ringTimeoutMs?: number;
  /** An INVITE branch that answers nothing at all, not even 100 Trying, is given up after this long (default 4000 ms). */
  noAnswerTimeoutMs?: number;
  /** Host in our Record-Route (default the SIP listener's host; set it when binding 0.0.0.0). */
  recordRouteHost?: string;
  /** The other softswitch instances, whose Record-Route entries are taken as ours (docs/scale-out.md). */
  peers?: ReadonlyArray<{ host: string; port: number }>;
  /** Is this AoR provisioned? 404 when not, 480 when it is but nobody is registered (default: a terminal record in the store). */
  knownAor?: (aor: string) => Promise<boolean>;
  /**
   * Out-of-dialog requests only from authenticated callers: a trusted SBC's
   * assertion (KS1 terminals) or a 407 Digest challenge (default true;
   * false only for routing benchmarks).
   */
  authenticate?: boolean;
  /** Voicemail: where unanswered calls and retrieval addresses go (docs/voicemail.md); absent: none. */
  voicemail?: VoicemailPolicy;
  /** The core addresses of one SBC pool's instances: an instance that answers nothing, the next (docs/scale-out.md). */
  sbcPool?: ReadonlyArray<{ host: string; port: number }>;
}

export interface SoftswitchOptions {
  sip: {
    /** Address to bind (and to advertise). */
    host: string;
    /** 0 picks a free port; undefined: no listener of that kind. */
    udpPort?: number;
    tcpPort?: number;
    /**
     * TLS-PSK listener for terminals that registered here without an SBC and
     * chose `tls-psk` (PSK identity IDc, key Kc,s). Without it the softswitch
     * offers no mechanism and cannot take KS1 straight from terminals.
     */
    tlsPskPort?: number;
  };
  /** CIDRs (or single addresses) of SBCs whose P-KS-* headers are believed. */
  trustedSbcs: string[];
  /** Key the SBCs sign their requests with (P-KS-Link, docs/sip-core-link.md); without it no request is believed to come from an SBC. */
  coreLinkKey?: Buffer;
  /** Digest realm. */
  realm: string;
  /** The softswitch's own IDsp and Kc,s (provisioned at the AuC as a proxy), for terminals without an SBC. */
  identity?: { id: string; key: Buffer };
  expires?: Partial<ExpiresPolicy>;
  /** An AuC answer later than this is a 503 (default 2000). */
  aucTimeoutMs?: number;
  /** Requests in flight to the AuC at once; one more is answered 503 with Retry-After at once (overload.softswitchAucInFlight; 0 or absent: no bound). */
  aucMaxInFlight?: number;
  /** Retry-After on 503 (default 5). */
  retryAfterSec?: number;
  /** How far the AuC's record of an unchanged binding may lag before a refresh is reported (softswitch.reportLagSeconds; default 0: every refresh). */
  reportLagSec?: number;
  /** Digest nonce lifetime (default 300). */
  digestNonceTtlSec?: number;
  /** Digest challenges, most preferred first (default ['SHA-256', 'MD5']; sipp 3.6 needs MD5 first). */
  digestAlgorithms?: DigestAlgorithm[];
  /** Digest nonces in use tracked at once, overall and per identity (defaults 200,000 and 8; docs/softswitch.md). */
  digestMaxNonces?: number;
  digestNoncesPerIdentity?: number;
  /** KS1 TS window (±s) and challenge lifetime for terminals without an SBC (defaults 30/30). */
  tsWindowSec?: number;
  challengeTtlSec?: number;
  /** How often expired bindings are removed and reported (default 5000 ms). */
  sweepIntervalMs?: number;
  auc: AucService;
  store: Store;
  logger?: Logger;
  /** Call routing between registered terminals. */
  calls?: CallRoutingOptions;
  /** Serve Prometheus text at `/metrics` on this port (0 picks one); undefined: no endpoint. */
  metricsPort?: number;
  /** Address of the metrics endpoint (default `sip.host`). */
  metricsHost?: string;
  /** Share a registry with other roles in the same process (default: a new one). */
  metricsRegistry?: MetricsRegistry;
  /** The process's health: each listener is registered there, and the metrics endpoint serves `/healthz` from it. */
  health?: Health;
}

export interface SoftswitchHandle {
  ports: { udp?: number; tcp?: number; tlsPsk?: number; metrics?: number };
  stats(): { sip: SipStackStats; register: SoftswitchSipStats; heldVectors: number; pskSessions: number; calls: CallRouterStats; location: LocationCacheStats; callAuth: CallAuthStats; link: CoreLinkStats };
  /** Prometheus counters (registrations, authentication failures, calls). */
  metrics: SoftswitchMetrics;
  /** One sweep now (also runs on its timer). */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

/** Is an address one of the trusted SBCs' (CIDRs)? Throws on a malformed entry. */
export function trustList(cidrs: readonly string[]): (address: string) => boolean {
  return cidrFilter(cidrs, 'trustedSbcs');
}

export async function startSoftswitch(o: SoftswitchOptions): Promise<SoftswitchHandle> {
  const expires: ExpiresPolicy = { ...DEFAULT_EXPIRES, ...o.expires };
  const metrics = new SoftswitchMetrics(o.metricsRegistry);
  // From an SBC = a trusted address and a valid link signature (the handlers ask with the request).
  const linkRefused = metrics.registry.counter('keyswitch_softswitch_core_link_refused_total', 'Requests from a trusted SBC address whose P-KS-* / P-Asserted-Identity were ignored for want of a valid core-link signature, by reason.', { labelNames: ['reason'] });
  const link = new CoreLinkGate({ trustedAddress: trustList(o.trustedSbcs), key: o.coreLinkKey, logger: o.logger, onRefused: (reason) => linkRefused.inc({ reason }) });
  const trusted = link.trusted;
  const shed = metrics.registry.counter('keyswitch_softswitch_auc_shed_total', 'SIP registration steps answered 503 with Retry-After at once because the queue toward the AuC was full (overload.softswitchAucInFlight).');
  shed.inc(undefined, 0);
  const auc = boundedAuc(metrics.observeAuc(o.auc, 'sip'), o.aucTimeoutMs ?? 2000, o.aucMaxInFlight ?? 0, () => shed.inc());
  // with Redis, a vector waits there for its s8, which may reach another instance (docs/scale-out.md)
  const flow = new SoftswitchFlow({ auc, vectorTtlSec: o.challengeTtlSec ?? 30, ...(o.store.redis ? { vectors: new RedisVectorState(o.store.redis) } : {}) });
  const pskSessions = new Map<string, SessionKeys>();
  const offered: Mechanism[] = o.sip.tlsPskPort !== undefined ? [{ name: 'tls-psk', q: 0.5 }] : [];
  let direct: SbcFlow | undefined;
  if (o.identity && offered.length > 0) {
    const so: ConstructorParameters<typeof SbcFlow>[0] = { idsp: o.identity.id, ksp: o.identity.key, offered };
    if (o.tsWindowSec !== undefined) so.tsWindowSec = o.tsWindowSec;
    if (o.challengeTtlSec !== undefined) so.challengeTtlSec = o.challengeTtlSec;
    direct = new SbcFlow(so);
  }
  const location = new LocationCache(o.store.bindings, { ttlMs: o.calls?.locationCacheTtlMs ?? 2000, now: o.store.now });
  const registrar = new Registrar(invalidating(o.store.bindings, location), expires, o.store.now);
  const digest = new DigestAuth({
    realm: o.realm,
    ...sharedDigest(o),
    nonceTtlSec: o.digestNonceTtlSec ?? 300,
    ...(o.digestAlgorithms ? { algorithms: o.digestAlgorithms } : {}),
    ...(o.digestMaxNonces ? { maxNonces: o.digestMaxNonces } : {}),
    ...(o.digestNoncesPerIdentity ? { noncesPerIdentity: o.digestNoncesPerIdentity } : {}),
  });
  const handler = new SoftswitchRegisterHandler({
    realm: o.realm,
    trusted,
    registrar,
    digest,
    auc,
    flow,
    ...(direct ? { direct } : {}),
    pskSessions,
    retryAfterSec: o.retryAfterSec ?? 5,
    reportLagSec: o.reportLagSec ?? 0,
    onUnreported: (protocol, mechanism) => metrics.registrationAccepted(protocol, mechanism),
    ...(o.logger ? { logger: o.logger } : {}),
  });

  const transports: SipTransport[] = [];
  // Each listener starts under its name (a failure says which and where) and is reported by /healthz.
  const served: ListenerHealth[] = [];
  const named = async <T extends SipTransport>(name: string, port: number, proto: string, start: () => Promise<T>): Promise<T> => {
    const t = await startListener(name, listenAddress(o.sip.host, port, proto), start);
    if (o.health) served.push(o.health.listener(name, listenAddress(o.sip.host, t.port, proto)));
    return t;
  };
  const ports: SoftswitchHandle['ports'] = {};
  try {
    if (o.sip.udpPort !== undefined) {
      const t = await named('softswitch SIP UDP', o.sip.udpPort, 'udp', () => createUdpTransport({ host: o.sip.host, port: o.sip.udpPort }));
      transports.push(t);
      ports.udp = t.port;
    }
    if (o.sip.tcpPort !== undefined) {
      const t = await named('softswitch SIP TCP', o.sip.tcpPort, 'tcp', () => createTcpTransport({ host: o.sip.host, port: o.sip.tcpPort }));
      transports.push(t);
      ports.tcp = t.port;
    }
    if (o.sip.tlsPskPort !== undefined) {
      const t = await named('softswitch SIP TLS-PSK', o.sip.tlsPskPort, 'tls-psk', () => createTlsTransport({
        host: o.sip.host,
        port: o.sip.tlsPskPort,
        server: { pskCallback: (_socket, identity) => pskSessions.get(identity)?.sessionKey ?? null, pskIdentityHint: o.identity?.id ?? o.realm },
      }));
      transports.push(t);
      ports.tlsPsk = t.port;
    }
  } catch (err) {
    await Promise.all(transports.map((t) => t.close()));
    throw err;
  }
  const callAuth = new CallAuthenticator({ trusted, digest, auc, selfId: identityOf(o), retryAfterSec: o.retryAfterSec ?? 5, agent: o.realm });
  const router = new SoftswitchCallRouter({
    trusted,
    ...(o.calls?.authenticate !== false ? { auth: callAuth } : {}),
    location,
    known: o.calls?.knownAor ?? (async (aor) => (await o.store.terminals.get(aor)) !== undefined),
    realm: o.realm,
    ...(o.calls?.ringTimeoutMs !== undefined ? { ringTimeoutMs: o.calls.ringTimeoutMs } : {}),
    ...(o.calls?.voicemail ? { voicemail: o.calls.voicemail } : {}),
    ...(o.calls?.noAnswerTimeoutMs !== undefined ? { noAnswerTimeoutMs: o.calls.noAnswerTimeoutMs } : {}),
    ...(o.calls?.recordRouteHost !== undefined ? { recordRouteHost: o.calls.recordRouteHost } : {}),
    ...(o.calls?.sbcPool && o.calls.sbcPool.length > 1 ? { sbcPool: new SbcPool(o.calls.sbcPool) } : {}),
    ...(o.calls?.peers ? { peers: o.calls.peers } : {}),
    // shared state (Redis) out of reach: 503 with Retry-After instead of 500, nothing accepted (docs/scale-out.md)
    ...(o.store.redis ? { onError: redisUnavailableAnswer } : {}),
    metrics,
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const registerStep = (status: number, s: number): void => metrics.registrationStep('sip', registerResult(status), s);
  const callSetup = (status: number, s: number): void => metrics.callSetup.observe({ result: callSetupResult(status) }, s);
  const onRequest = (req: SipRequest, ctx: ServerContext): void | Promise<void> => {
    link.admit(req, ctx.source);
    // timed for the metrics: a REGISTER to its final answer, a new INVITE to ringing or its final answer
    if (req.method === 'REGISTER') return handler.onRequest(req, timedContext(ctx, isFinal, registerStep));
    if (req.method === 'INVITE' && newCall(req)) return router.onRequest(req, timedContext(ctx, isCallProgress, callSetup));
    return router.onRequest(req, ctx);
  };
  const plainStack = createSipStack({
    transports,
    onRequest: router.serve(onRequest),
    onStrayResponse: router.onStrayResponse,
    warningAgent: o.realm,
    onHandlerError: (err, req) => o.logger?.error({ err: (err as Error)?.message, method: req.method }, 'softswitch request handler failed (answered 500)'),
  });
  const linkKey = o.coreLinkKey;
  // Requests to an SBC are signed as the SBC signs its own: it takes nothing on the core link without (docs/sip-core-link.md).
  // one signer for the process: the key's HMAC pads made once, not an Hmac object per request
  const stack = linkKey ? signingRequests(plainStack, coreLinkSigner(linkKey), (req, so) => {
    const next = nextHopAddress(req, so);
    // the media server takes the softswitch's Diversion and P-Asserted-Identity on its signature only (docs/voicemail.md)
    return trusted(next ?? '') || (o.calls?.voicemail?.isServer(next) ?? false);
  }) : plainStack;
  router.attach(stack);
  // the registrar's own counters move the metrics before every scrape, whichever endpoint serves them
  metrics.registry.beforeCollect(() => metrics.syncRegister(handler.st));
  metrics.activeTransactions.onCollect((g) => {
    const s = stack.stats();
    g.set(s.clientTransactions, { kind: 'client' });
    g.set(s.serverTransactions, { kind: 'server' });
  });
  let metricsEndpoint: MetricsEndpoint | undefined;
  if (o.metricsPort !== undefined) {
    try {
      const host = o.metricsHost ?? o.sip.host;
      const port = o.metricsPort;
      const endpoint = await startListener('softswitch metrics', listenAddress(host, port, 'http'), () =>
        o.health ? startMetricsServer(metrics.registry, { host, port, health: o.health }) : serveSoftswitchMetrics(metrics.registry, { host, port }));
      metricsEndpoint = endpoint;
      ports.metrics = endpoint.port;
      o.health?.listener('softswitch metrics', listenAddress(host, endpoint.port, 'http'), () => endpoint.server.listening);
    } catch (err) {
      await stack.close();
      throw err;
    }
  }

  let sweeping: Promise<void> | undefined;
  const sweep = (): Promise<void> =>
    (sweeping ??= (async () => {
      try {
        flow.sweep();
        direct?.sweep();
        digest.sweep();
        for (;;) {
          const gone = await o.store.bindings.takeExpired();
          if (gone.length === 0) break;
          for (const b of gone) location.invalidate(b.aor);
          await handler.expired(gone);
        }
      } catch (err) {
        o.logger?.warn({ err: (err as Error).message }, 'softswitch: sweep failed');
      } finally {
        sweeping = undefined;
      }
    })());
  const timer = setInterval(() => void sweep(), o.sweepIntervalMs ?? 5000);
  timer.unref();

  o.logger?.info({ ports, realm: o.realm, direct: Boolean(direct), trustedSbcs: o.trustedSbcs }, 'softswitch SIP listening');
  return {
    ports,
    stats: () => ({ sip: stack.stats(), register: { ...handler.st }, heldVectors: flow.heldVectors, pskSessions: pskSessions.size, calls: { ...router.st }, location: location.stats(), callAuth: { ...callAuth.st }, link: { verified: link.st.verified, refused: { ...link.st.refused } } }),
    metrics,
    sweep,
    async close() {
      clearInterval(timer);
      for (const l of served) l.down('stopped');
      router.close();
      await sweeping;
      await metricsEndpoint?.close();
      await stack.close();
    },
  };
}

/**
 * Several softswitch instances on one Redis (docs/scale-out.md): a nonce
 * issued by one must open at another, so the nonce key is derived from the
 * core-link key every SBC and softswitch of the deployment holds, and the
 * nonce-counts are kept in Redis. One instance alone keeps both in the
 * process (a restart then forgets every nonce, and no replay table is needed).
 */
function sharedDigest(o: SoftswitchOptions): Pick<DigestOptions, 'secret' | 'nonceCounts'> {
  const redis = o.store.redis;
  if (!redis) return {};
  if (!o.coreLinkKey) {
    o.logger?.warn('softswitch: Redis is shared but there is no core-link key: Digest nonces open only at the instance that issued them');
    return { nonceCounts: new RedisNonceCounts(redis) };
  }
  return { secret: sharedDigestSecret(o.coreLinkKey), nonceCounts: new RedisNonceCounts(redis) };
}

/** An INVITE outside a dialog (no To tag); a To that does not parse is the handler's to refuse. */
function newCall(req: SipRequest): boolean {
  try {
    return !inDialog(req);
  } catch {
    return false;
  }
}

/** IDsp reported with a failed Digest answer that no SBC carried (as the registrar does). */
function identityOf(o: SoftswitchOptions): string {
  return o.identity && o.sip.tlsPskPort !== undefined ? o.identity.id : o.realm;
}

/**
 * The registrar's repo, invalidating the call router's location cache for
 * every AoR it changes. A class, not a Proxy: the registrar calls it on every
 * REGISTER, and a Proxy's trap built a function per call.
 */
class InvalidatingStore implements LocationStore {
  constructor(private readonly repo: LocationStore, private readonly cache: LocationCache) {}

  current(aor: string): Promise<SipBinding[]> {
    return this.repo.current(aor);
  }

  count(): Promise<number> {
    return this.repo.count();
  }

  update<T>(aor: string, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<{ committed: boolean; result: T; live: SipBinding[]; removed: SipBinding[] }> {
    const cache = this.cache;
    return this.repo.update(aor, decide).then(
      (r) => {
        cache.invalidate(aor);
        return r;
      },
      (err: unknown) => {
        cache.invalidate(aor);
        throw err;
      },
    );
  }

  removeAll(aor: string, contact?: string): Promise<SipBinding[]> {
    return this.repo.removeAll(aor, contact);
  }

  takeExpired(limit?: number): Promise<SipBinding[]> {
    return this.repo.takeExpired(limit);
  }
}

function invalidating(repo: LocationStore, cache: LocationCache): LocationStore {
  return new InvalidatingStore(repo, cache);
}
