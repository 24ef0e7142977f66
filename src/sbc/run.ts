/**
 * Starts the SBC's SIP side: untrusted listeners (UDP, TCP, TLS with the SBC
 * certificate, TLS-PSK keyed by the SessionTable) and the trusted link to the
 * softswitch. Plain options; the CLI maps configuration onto them.
 */
import type { Logger } from 'pino';
import type { ServerContext, SipRequest } from '../sip/index.js';
import { SbcFlow } from '../flow/sbc.js';
import type { SbcReplayState } from '../flow/sbc-state.js';
import { CoreLinkVerifier, coreLinkSigner, signingRequests } from '../adapters/sip/core-link.js';
import { KNOWN_MECHANISMS } from '../flow/mechanisms.js';
import type { Mechanism } from '../flow/messages.js';
import {
  createSipStack, createTcpTransport, createTlsTransport, createUdpTransport, PSK_CIPHERS, DEFAULT_TIMERS,
  type SipStackStats, type SipTransport, type TimerConfig,
} from '../sip/index.js';
import { loadOrCreateCertificate } from '../crypto/certificate.js';
import { streamLimits, type SbcConnectionLimits } from './connection-limits.js';
import { SessionTable } from './sessions.js';
import { FailureCounter } from './sip-failures.js';
import { SipGuard } from './sip-guard.js';
import { SbcSipProxy } from './sip-proxy.js';
import { SbcCalls, type CallCounters } from './sip-calls.js';
import { SbcSides, type SbcSipCounters } from './sip-sides.js';
import { optionsProbe, SoftswitchPool } from './softswitch-pool.js';
import { ProxyCore, composeInbound } from '../sip/proxy/core.js';
import { OwnAddresses } from '../sip/proxy/own-addresses.js';
import { PASS, type InboundVerdict, type OnInbound } from '../sip/proxy/hooks.js';
import { ContactMap, type SharedContacts } from './sip-contacts.js';
import { DialogTable } from './dialogs.js';
import { sbcMetrics } from './sip-metrics.js';
import { HeaderSigner } from './signing/sip-signatures.js';
import { openSigningKeys, type SigningKeys } from './signing/keyring.js';
import { SignatureGuard, type GuardAlert, type SignatureGuardOptions } from './signing/guard.js';
import { signingFailureSink } from './signing/metrics.js';
import { loadPool } from './pool/files.js';
import type { SigningPool } from './pool/pool.js';
import { MemorySigningKeyStore, type SigningKeyStore } from '../store/signing-keys.js';
import { redisUnavailableAnswer } from '../store/redis/unavailable-answer.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { listenAddress, startListener, type Health, type ListenerHealth } from '../metrics/health.js';
import type { MessageSource, ParseResult, SipParseError, SipResponse } from '../sip/index.js';
import { countingPending, LagSampler, LoopBusy, OverloadGate, overloadMetrics, type OverloadSettings, type SheddingEvent } from './overload.js';
import type { IdsSink } from '../adapters/sip/ids.js';
import { sbcIds, watchAnswers, type SbcIds } from './ids-sip.js';
import { flowKey } from '../ids/blacklist.js';

export interface StartSbcOptions {
  /** IDsp: this SBC's identity (the KS1 realm). */
  idsp: string;
  /** Ksp: 32 bytes shared with the AuC. */
  ksp: Buffer;
  /** Untrusted listeners; a port of 0 picks a free one, `false` disables that listener. */
  untrusted: { host?: string; udpPort?: number | false; tcpPort?: number | false; tlsPort?: number | false; tlsPskPort?: number | false; advertisedHost?: string };
  /** Bounds on the TCP, TLS and TLS-PSK listeners facing terminals (docs/sbc.md, Connections); defaults in connection-limits.ts. */
  connections?: SbcConnectionLimits;
  /** The trusted link: where the softswitch listens, and (optionally) the local address to bind for it. */
  softswitch: {
    host: string; port: number; transport?: 'udp' | 'tcp'; bindHost?: string; bindPort?: number;
    /** More softswitch instances after this one, in failover order (docs/scale-out.md); their requests are accepted too. */
    more?: ReadonlyArray<{ host: string; port: number }>;
    /** With several: a forwarded request with no answer at all after this long goes to the next one, and its softswitch is marked down (default 3000 ms). */
    noAnswerMs?: number;
    /** With several: how often a softswitch marked down is pinged with OPTIONS (default 5000 ms; 0: never, it comes back when it answers a request). */
    probeMs?: number;
    /** Timer C of an INVITE forwarded to the softswitch (RFC 3261 §16.8; default 181000 ms, `sbc.timerCSeconds`). */
    timerCMs?: number;
  };
  /**
   * Key shared with the softswitch: every request sent to it is signed (P-KS-Link,
   * docs/sip-core-link.md), without which it believes none of our P-KS-* headers.
   * Absent: nothing is signed (benches against a fake core).
   */
  coreLinkKey?: Buffer;
  /** What the SBC offers, by name and q; default tls-psk 0.5, app-hmac 0.3, tls 0.2. Mechanisms whose listener is disabled are dropped. */
  offered?: Mechanism[];
  tls: { certFile?: string; keyFile?: string; dataDir: string };
  /** Shared with the MGCP/H.248 relays; a new one if absent. */
  sessions?: SessionTable;
  /** The KS1 replay state shared by a pool's instances (Redis, docs/scale-out.md); in the process if absent. */
  replayState?: SbcReplayState;
  /** Where a pool's instances reach each terminal (Redis, docs/scale-out.md "Losing an SBC instance"); per instance if absent. */
  sharedContacts?: SharedContacts;
  logger?: Logger;
  tsWindowSec?: number;
  challengeTtlSec?: number;
  /** Binding lifetime assumed when the registrar names none. Default 3600 s. */
  defaultExpiresSec?: number;
  timers?: Partial<TimerConfig>;
  clock?: () => number;
  /** Where the header-signing keys live (their bytes sealed under the master key); without it and without `signing.keys`, in memory. */
  store?: { signingKeys: SigningKeyStore };
  /** Header signing on the untrusted side (docs/sbc-calls.md); on by default. */
  signing?: SbcSigningOptions;
  /** Serve Prometheus text at `http://<metricsHost>:<metricsPort>/metrics` (0 = a free port). */
  metricsPort?: number;
  metricsHost?: string;
  /** A registry shared with other roles in the process; a new one if absent. */
  metrics?: MetricsRegistry;
  /** The process's health: each listener is registered there, and the metrics endpoint serves `/healthz` from it. */
  health?: Health;
  /** Overload control at the inbound point (src/sbc/overload.ts, docs/sbc.md "Overload"); absent: none. */
  overload?: OverloadSettings;
  /** The intrusion detection (docs/ids.md): screens every message from a terminal, reads the answers for auth outcomes. */
  ids?: IdsSink;
}

export interface SbcSigningOptions {
  /** false: nothing signed or checked (benchmarks, comparison). Default true. */
  enabled?: boolean;
  /** Overrides `store.signingKeys`. */
  keys?: SigningKeyStore;
  rotateEveryMs?: number;
  viaLifetimeMs?: number;
  rrLifetimeMs?: number;
  /** The pool: a loaded SigningPool or its certificate and key files (keyswitch pool init). */
  pool?: SigningPool | { certFile: string; keyFile: string };
  /** Signature failures per source before a block (default 10 in 1 s, blocked 60 s). */
  guard?: Omit<SignatureGuardOptions, 'now' | 'logger' | 'onAlert'>;
  /** Called once per block the guard makes (the role records it for operators, docs/operations.md). */
  onBlock?: (a: GuardAlert) => void;
  /** `host:port` that are also this SBC: the pool's shared address, the other instances' trusted addresses. */
  aliases?: string[];
}

export interface SbcPorts {
  udp?: number;
  tcp?: number;
  tls?: number;
  tlsPsk?: number;
  /** Local port of the trusted link. */
  core: number;
}

export interface SbcStats {
  sip: SbcSipCounters;
  sessions: number;
  replay: { seenNonces: number; outstanding: number };
  failures: ReturnType<FailureCounter['snapshot']>;
  untrusted: SipStackStats;
  core: SipStackStats;
  tlsHandshakeFailures: number;
  /** Counters of each untrusted listener by `protocol:port` (connections, refusals, deadlines). */
  transports: Record<string, Record<string, number>>;
  calls: CallCounters & { dialogs: number; started: number; ended: number };
  /** The softswitches in order, whether each is up, and how often one was marked down. */
  softswitches: { members: Array<{ address: string; up: boolean }>; failovers: number };
  signing: { enabled: boolean; viaDropped: number; blockedDrops: number; blocked: string[]; keyIds: { via: string[]; rr: string[] } };
}

export interface RunningSbc {
  ports: SbcPorts;
  /** The softswitches and their liveness, shared with the MGCP/H.248/H.323 relays (docs/scale-out.md). */
  softswitches: SoftswitchPool;
  /** The certificate the TLS listener presents (file paths and SHA-256 fingerprint). */
  certificate: { certFile: string; fingerprint256: string } | undefined;
  sessions: SessionTable;
  offered: Mechanism[];
  /** The Prometheus registry, and the `/metrics` port when served. */
  metrics: MetricsRegistry;
  metricsPort: number | undefined;
  /** The signing key rings (undefined when signing is off). */
  signingKeys: SigningKeys | undefined;
  /** The signature-failure guard (blocks sources). */
  signatureGuard: SignatureGuard | undefined;
  /** Failures per source on the untrusted side (operators read them: docs/operations.md). */
  failures: FailureCounter;
  stats(): SbcStats;
  close(): Promise<void>;
}

export const DEFAULT_OFFER: Mechanism[] = [
  { name: 'tls-psk', q: 0.5 },
  { name: 'app-hmac', q: 0.3 },
  { name: 'tls', q: 0.2 },
];

export async function startSbc(o: StartSbcOptions): Promise<RunningSbc> {
  const now = o.clock ?? Date.now;
  const host = o.untrusted.host ?? '127.0.0.1';
  const u = o.untrusted;
  for (const m of o.offered ?? []) {
    if (!(KNOWN_MECHANISMS as readonly string[]).includes(m.name.toLowerCase())) throw new Error(`sbc: mechanism ${m.name} is not implemented`);
  }
  const offered = (o.offered ?? DEFAULT_OFFER)
    .map((m) => ({ name: m.name.toLowerCase(), q: m.q }))
    .filter((m) => (m.name === 'tls' ? u.tlsPort !== false : m.name === 'tls-psk' ? u.tlsPskPort !== false : true));
  const sessions = o.sessions ?? new SessionTable(now);
  const guard = new SipGuard(sessions);
  const failures = new FailureCounter(100_000, now);
  const flow = new SbcFlow<SbcReplayState>({
    idsp: o.idsp, ksp: o.ksp, offered, clock: now,
    ...(o.replayState ? { state: o.replayState } : {}),
    ...(o.tsWindowSec !== undefined ? { tsWindowSec: o.tsWindowSec } : {}),
    ...(o.challengeTtlSec !== undefined ? { challengeTtlSec: o.challengeTtlSec } : {}),
  });
  const timers = { ...DEFAULT_TIMERS, ...o.timers };
  const adv = u.advertisedHost ? { advertisedHost: u.advertisedHost } : {};
  const limits = streamLimits(o.connections);

  const registry = o.metrics ?? new MetricsRegistry();
  const sig = o.signing ?? {};
  const signingOn = sig.enabled !== false;
  let keys: SigningKeys | undefined;
  let sigGuard: SignatureGuard | undefined;
  let signer: HeaderSigner | null = null;
  if (signingOn) {
    keys = await openSigningKeys({
      store: sig.keys ?? o.store?.signingKeys ?? new MemorySigningKeyStore(),
      now,
      ...(sig.rotateEveryMs !== undefined ? { rotateEveryMs: sig.rotateEveryMs } : {}),
      ...(sig.viaLifetimeMs !== undefined ? { viaLifetimeMs: sig.viaLifetimeMs } : {}),
      ...(sig.rrLifetimeMs !== undefined ? { rrLifetimeMs: sig.rrLifetimeMs } : {}),
    });
    const pool = sig.pool === undefined ? undefined : 'seal' in sig.pool ? sig.pool : loadPool(sig.pool, { now });
    sigGuard = new SignatureGuard({ ...sig.guard, now, ...(o.logger ? { logger: o.logger } : {}), ...(sig.onBlock ? { onAlert: sig.onBlock } : {}) });
    signer = new HeaderSigner({ via: keys.via, rr: keys.rr, ...(pool ? { pool } : {}), onFailure: signingFailureSink(registry, sigGuard) });
  }
  const contacts = new ContactMap(now);
  const sharedContacts = o.sharedContacts;
  const dialogs = new DialogTable(sig.rrLifetimeMs ?? 24 * 3600_000, 1_000_000, now);
  const metrics = sbcMetrics(registry, { dialogs: () => dialogs.size, sessions: () => sessions.size });
  let viaDropped = 0;
  let coreLinkDropped = 0;
  let blockedDrops = 0;
  let metricsServer: MetricsServer | undefined;
  let stopLag = (): void => undefined;
  let softswitches: SoftswitchPool | undefined;

  const opened: SipTransport[] = [];
  const closeAll = () => Promise.all(opened.map((t) => t.close().catch(() => undefined)));
  // Each listener starts under its name (a failure says which and where) and is reported by /healthz.
  const served: ListenerHealth[] = [];
  const named = async <T extends SipTransport>(name: string, at: string, port: number, proto: string, start: () => Promise<T>): Promise<T> => {
    const t = track(opened, await startListener(name, listenAddress(at, port, proto), start));
    if (o.health) served.push(o.health.listener(name, listenAddress(at, t.port, proto)));
    return t;
  };
  try {
    const untrusted: SipTransport[] = [];
    let tlsHandshakes = (): number => 0;
    const udpPort = u.udpPort;
    const tcpPort = u.tcpPort;
    if (udpPort !== false) untrusted.push(await named('SBC SIP UDP', host, udpPort ?? 0, 'udp', () => createUdpTransport({ host, port: udpPort ?? 0, ...adv })));
    if (tcpPort !== false) untrusted.push(await named('SBC SIP TCP', host, tcpPort ?? 0, 'tcp', () => createTcpTransport({ host, port: tcpPort ?? 0, ...adv, ...limits })));
    let certificate: RunningSbc['certificate'];
    let tlsPort: number | undefined;
    let tlsPskPort: number | undefined;
    const counters: Array<{ handshakeFailures: number }> = [];
    if (u.tlsPort !== false) {
      const c = loadOrCreateCertificate({
        dataDir: o.tls.dataDir, commonName: o.idsp, altNames: [host, ...(u.advertisedHost ? [u.advertisedHost] : [])],
        ...(o.tls.certFile ? { certFile: o.tls.certFile } : {}), ...(o.tls.keyFile ? { keyFile: o.tls.keyFile } : {}),
      });
      certificate = { certFile: c.certFile, fingerprint256: c.fingerprint256 };
      if (c.created) o.logger?.info({ certFile: c.certFile, fingerprint256: c.fingerprint256 }, 'sbc: generated a self-signed certificate');
      const port = u.tlsPort ?? 0;
      const t = await named('SBC SIP TLS', host, port, 'tls', () => createTlsTransport({ host, port, ...adv, ...limits, server: { cert: c.cert, key: c.key, minVersion: 'TLSv1.2' } }));
      untrusted.push(t);
      counters.push(t);
      tlsPort = t.port;
    }
    if (u.tlsPskPort !== false) {
      const port = u.tlsPskPort ?? 0;
      const t = await named('SBC SIP TLS-PSK', host, port, 'tls-psk', () => createTlsTransport({
        host, port, ...adv, ...limits,
        server: {
          pskCallback: (_s, identity) => guard.pskFor(identity),
          pskIdentityHint: o.idsp,
          ciphers: PSK_CIPHERS,
          // Node offers external PSKs on TLS 1.2 cipher suites only
          minVersion: 'TLSv1.2',
          maxVersion: 'TLSv1.2',
        },
      }));
      untrusted.push(t);
      counters.push(t);
      tlsPskPort = t.port;
    }
    tlsHandshakes = () => counters.reduce((n, t) => n + t.handshakeFailures, 0);

    const coreProto = o.softswitch.transport ?? 'udp';
    const bind = { host: o.softswitch.bindHost ?? '127.0.0.1', port: o.softswitch.bindPort ?? 0 };
    const coreTransport = await named<SipTransport>('SBC core link', bind.host, bind.port, coreProto, () => (coreProto === 'tcp' ? createTcpTransport(bind) : createUdpTransport(bind)));

    let proxy: SbcSipProxy | undefined;
    const onHandlerError = (err: unknown, req: SipRequest) => o.logger?.error({ err: (err as Error)?.message, method: req.method }, 'SBC request handler failed (answered 500)');
    const linkKey = o.coreLinkKey;
    // With a key, a request on the core link is the softswitch's only when it carries the softswitch's signature:
    // any local process can send from its address (docs/sip-core-link.md). Dropped and counted otherwise.
    const coreLinkCheck = linkKey ? new CoreLinkVerifier(linkKey) : undefined;
    const fromCore = (req: SipRequest, ctx: ServerContext): void | Promise<void> => {
      const v = coreLinkCheck?.verify(req);
      if (v && !v.ok) {
        coreLinkDropped++;
        if (coreLinkDropped === 1 || coreLinkDropped % 1000 === 0) o.logger?.warn({ source: `${ctx.source.address}:${ctx.source.port}`, method: req.method, reason: v.reason, dropped: coreLinkDropped }, 'sbc: request on the core link without a valid softswitch signature dropped');
        return;
      }
      return proxy!.onCoreRequest(req, ctx);
    };
    const plainCoreStack = createSipStack({ transports: [coreTransport], timers, autoTrying: false, warningAgent: o.idsp, onHandlerError, onRequest: fromCore });
    // Every request to the softswitch (forwarded, ACK, CANCEL) is signed as it leaves, on the wall clock the softswitch checks against.
    let coreStack = linkKey ? signingRequests(plainCoreStack, coreLinkSigner(linkKey)) : plainCoreStack;

    // Intrusion detection (docs/ids.md): every message from a terminal screened, every answer read for outcomes.
    const idsSip = o.ids ? sbcIds(o.ids) : undefined;
    if (idsSip) for (const t of untrusted) watchAnswers(t, idsSip);
    const idsInbound: OnInbound | undefined = idsSip ? (m, src) => idsVerdict(idsSip, { ok: true, message: m as SipRequest | SipResponse }, src) : undefined;
    // Overload control (docs/sbc.md, Overload): new work refused with 503 while the queue toward the core or the event loop says so.
    let overloadInbound: OnInbound | undefined;
    if (o.overload) {
      const counted = countingPending(coreStack);
      coreStack = counted.stack;
      const lag = new LagSampler().start();
      stopLag = () => lag.stop();
      const loop = new LoopBusy();
      const onShedding = (e: SheddingEvent) => {
        if (e.kind === 'start') o.logger?.warn(e, 'sbc: overloaded, refusing a share of new requests with 503');
        else o.logger?.warn(e, 'sbc: no longer overloaded');
      };
      const gate = new OverloadGate(o.overload, { pending: counted.pending, lagMs: () => lag.lagMs(), delayMs: counted.delayMs, answerRate: counted.answerRate, busy: () => loop.busy() }, now, onShedding);
      overloadMetrics(registry, gate, counted);
      overloadInbound = (m, src) => gate.decide(m, src);
    }

    // Before the transaction layer: blocked sources go unread, and a response
    // whose Via signature fails never reaches (nor ends) a client transaction.
    const DROP_BLOCKED: InboundVerdict = Object.freeze({ kind: 'drop', reason: 'source blocked' });
    const DROP_VIA: InboundVerdict = Object.freeze({ kind: 'drop', reason: 'Via signature' });
    const blocked: OnInbound = (_m, src) => {
      if (!sigGuard?.blocking || !sigGuard.isBlocked(flowKey(src.address, src.port))) return PASS;
      blockedDrops++;
      return DROP_BLOCKED;
    };
    const viaSignature: OnInbound = (m, src) => {
      if (!signer || !m.isResponse()) return PASS;
      // a CANCEL's answer is hop by hop and carries the INVITE's Via: the transaction layer matches it by branch
      if (m.status <= 100 || m.cseq().method === 'CANCEL') return PASS;
      const flow = flowKey(src.address, src.port);
      if (signer.verifyVia(m, flow).ok) return PASS;
      viaDropped++;
      failures.count(flow, 'signature');
      return DROP_VIA;
    };
    // A CANCEL counts only from the flow of the INVITE it cancels: its branch and sent-by are no secret (docs/sbc-calls.md).
    if (sharedContacts) contacts.share(sharedContacts, (proto) => untrusted.find((t) => t.protocol === proto));
    const own = new OwnAddresses();
    for (const t of untrusted) own.add(t.host, t.port).add(host, t.port);
    own.add(coreTransport.host, coreTransport.port).add(bind.host, coreTransport.port);
    for (const a of sig.aliases ?? []) own.add(a);
    // shared state (Redis) out of reach: 503 with Retry-After, what cannot be checked is not accepted (docs/scale-out.md)
    const core = new ProxyCore({ own, agent: o.idsp, hooks: { onError: redisUnavailableAnswer } });
    const untrustedStack = createSipStack({
      transports: untrusted, timers, autoTrying: false, warningAgent: o.idsp, onHandlerError, cancelFromSameFlow: true,
      // intrusion detection (it sees everything), blocked sources, overload control, then the Via signature of answers
      onInbound: composeInbound(idsInbound, blocked, overloadInbound, viaSignature),
      ...(idsSip ? { onMalformed: (error: SipParseError, src: MessageSource) => idsVerdict(idsSip, { ok: false, error }, src) } : {}),
      onRequest: core.serve((req, ctx) => proxy!.onRequest(req, ctx)),
    });

    const noAnswerMs = o.softswitch.noAnswerMs ?? 3000;
    softswitches = new SoftswitchPool([o.softswitch, ...(o.softswitch.more ?? [])], coreTransport, {
      probe: optionsProbe(coreStack, o.idsp, noAnswerMs), probeMs: o.softswitch.probeMs ?? 5000, logger: o.logger,
    });
    softswitches.start();
    const sides = new SbcSides({
      core, failures, metrics, logger: o.logger, tryingAfterMs: timers.T2,
      link: { stack: coreStack, transport: coreTransport, softswitches, noAnswerMs, timerCMs: o.softswitch.timerCMs ?? 181_000 },
    });
    const calls = new SbcCalls({ sides, guard, untrusted: () => untrustedStack, signer, contacts, dialogs, own, metrics });
    proxy = new SbcSipProxy({
      sides, guard, calls, contacts,
      register: {
        sides, idsp: o.idsp, flow, offered, sessions, guard, contacts, metrics, now, logger: o.logger,
        tlsPorts: { ...(tlsPort !== undefined ? { tls: tlsPort } : {}), ...(tlsPskPort !== undefined ? { tlsPsk: tlsPskPort } : {}) },
        defaultExpiresSec: o.defaultExpiresSec ?? 3600,
      },
    });
    keys?.start();
    if (o.metricsPort !== undefined) {
      const at = { port: o.metricsPort, host: o.metricsHost ?? '127.0.0.1' };
      const m = await startListener('SBC metrics', listenAddress(at.host, at.port, 'http'), () => startMetricsServer(registry, { ...at, ...(o.health ? { health: o.health } : {}) }));
      metricsServer = m;
      o.health?.listener('SBC metrics', listenAddress(at.host, m.port, 'http'), () => m.server.listening);
    }
    const sweeper = setInterval(() => {
      flow.sweep();
      if (!o.sessions) sessions.sweep();
      contacts.sweep();
      dialogs.sweep();
    }, 10_000);
    sweeper.unref();

    const ports: SbcPorts = { core: coreTransport.port };
    for (const t of untrusted) {
      if (t.protocol === 'udp') ports.udp = t.port;
      if (t.protocol === 'tcp') ports.tcp = t.port;
    }
    if (tlsPort !== undefined) ports.tls = tlsPort;
    if (tlsPskPort !== undefined) ports.tlsPsk = tlsPskPort;
    o.logger?.info({ idsp: o.idsp, ports, offered }, 'sbc: SIP listening');
    return {
      ports,
      softswitches: softswitches!,
      certificate,
      sessions,
      offered,
      stats: () => ({
        sip: { ...sides.counters },
        sessions: sessions.size,
        replay: flow.stats,
        failures: failures.snapshot(),
        untrusted: untrustedStack.stats(),
        core: coreStack.stats(),
        tlsHandshakeFailures: tlsHandshakes(),
        transports: Object.fromEntries(untrusted.map((t) => [`${t.protocol}:${t.port}`, t.stats()])),
        calls: { ...calls.counters, dialogs: dialogs.size, started: dialogs.stats().started, ended: dialogs.stats().ended },
        softswitches: { members: sides.link.softswitches.members.map((m) => ({ address: m.key, up: m.up })), failovers: sides.link.softswitches.failovers },
        signing: {
          enabled: signingOn, viaDropped, blockedDrops, blocked: sigGuard?.blockedSources() ?? [],
          keyIds: { via: keys?.via.ids() ?? [], rr: keys?.rr.ids() ?? [] },
        },
      }),
      metrics: registry,
      metricsPort: metricsServer?.port,
      signingKeys: keys,
      signatureGuard: sigGuard,
      failures,
      async close() {
        clearInterval(sweeper);
        stopLag();
        softswitches?.stop();
        for (const l of served) l.down('stopped');
        keys?.stop();
        core.close();
        await metricsServer?.close();
        await Promise.all([untrustedStack.close(), coreStack.close()]);
      },
    };
  } catch (e) {
    stopLag();
    softswitches?.stop();
    keys?.stop();
    await metricsServer?.close();
    await closeAll();
    throw e;
  }
}

/** The IDS's verdict as the stack's inbound verdict: a drop is silent; an answer is a 403/503 to the source only. */
function idsVerdict(s: SbcIds, r: ParseResult, src: MessageSource): InboundVerdict {
  const v = s.adapter.inbound(r, src);
  if (!v || v.kind === 'pass') return PASS;
  if (v.kind === 'drop' || !r.ok || !r.message.isRequest() || r.message.method === 'ACK') {
    s.screened.dropped++;
    return { kind: 'drop', reason: 'ids' };
  }
  s.screened.answered++;
  return { kind: 'reject', status: v.status, reason: v.status === 403 ? 'Forbidden' : 'Service Unavailable', ...(v.retryAfter !== undefined ? { retryAfter: v.retryAfter } : {}) };
}

function track<T extends SipTransport>(list: SipTransport[], t: T): T {
  list.push(t);
  return t;
}
