import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { keyFromHex, requiredHostPort } from '../config/addresses.js';
import { openStoreFromConfig, type Store } from '../store/index.js';
import { sharedRedisFromConfig } from '../store/redis/index.js';
import { RedisSbcState } from '../store/redis/sbc-state.js';
import { RedisSbcSessions } from '../store/redis/sbc-sessions.js';
import { RedisSbcContacts } from '../store/redis/sbc-contacts.js';
import { ConfigError, type Config } from '../config/load.js';
import { configuredOrStoredSecret, coreLinkKey } from '../config/secrets.js';
import type { Logger } from '../log/logger.js';
import { listenAddress, startListener, type Health } from '../metrics/health.js';
import type { RunningRole } from '../contracts/role.js';
import { startH248Relay } from './h248-relay.js';
import { startH323Relay } from './h323-relay.js';
import { startMgcpRelay } from './mgcp-relay.js';
import { alignGatewayList } from './gateway-softswitches.js';
import { coreBinding } from './core-address.js';
import { startSbc, type SbcSigningOptions } from './run.js';
import type { SbcConnectionLimits } from './connection-limits.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { sbcProtocolMetrics } from './sip-metrics.js';
import { SbcControl } from './control.js';
import { acquireIds } from '../ids/service.js';
import { idsSharedFromConfig } from '../store/redis/ids-shared.js';
import { join } from 'node:path';
import type { LiveRoles } from '../control/live-roles.js';

/** The SBC's key Ksp: configured, or generated once into the data directory. */
export function sbcKey(cfg: Config): Buffer {
  return keyFromHex(configuredOrStoredSecret(cfg.dataDir, 'sbc.key', cfg.sbc.key, () => randomBytes(32).toString('hex')), 'sbc.key');
}

/** What terminals are told to send to: configured, the bound address, or a guess when bound to all. */
function advertised(host: string, configured: string): string {
  if (configured) return configured;
  if (host !== '0.0.0.0' && host !== '::') return host;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** The trusted link binds at an address the softswitch can reach, which core-side Via and Record-Route name (core-address.ts). */
async function coreLink(ss: { host: string; port: number }, configured: string, log: Logger) {
  const bind = await coreBinding(ss, configured);
  if (bind.bindHost === '0.0.0.0') log.warn({ softswitch: `${ss.host}:${ss.port}` }, 'sbc: no route to the softswitch; the core link binds 0.0.0.0, which the softswitch cannot reach in-dialog: set sbc.coreAddress');
  return { ...ss, ...bind };
}

function signing(cfg: Config, onBlock?: SbcSigningOptions['onBlock']): SbcSigningOptions {
  const s = cfg.sbc.signing;
  if (Boolean(s.poolCert) !== Boolean(s.poolKey)) throw new ConfigError('sbc.signing.poolCert and sbc.signing.poolKey go together');
  return {
    enabled: s.enabled === 'on',
    rotateEveryMs: s.rotateSeconds * 1000,
    viaLifetimeMs: s.viaLifetimeSeconds * 1000,
    rrLifetimeMs: s.routeLifetimeSeconds * 1000,
    ...(s.poolCert ? { pool: { certFile: s.poolCert, keyFile: s.poolKey } } : {}),
    guard: { threshold: s.guardThreshold, windowMs: s.guardWindowMs, blockMs: s.guardBlockSeconds * 1000 },
    aliases: s.aliases,
    ...(onBlock ? { onBlock } : {}),
  };
}

function connections(cfg: Config): SbcConnectionLimits {
  const c = cfg.sbc.connections;
  return {
    maxPerSource: c.maxPerSource, max: c.max, handshakeTimeoutMs: c.handshakeTimeoutMs, messageTimeoutMs: c.messageTimeoutMs,
    idleMs: c.idleSeconds * 1000, flowIdleMs: c.flowIdleSeconds * 1000,
  };
}

/** Starts the SBC: SIP proxy with its mechanisms and header signing, MGCP and H.248 relays, one session table for all. */
export async function startSbcRole(cfg: Config, logger: Logger, shared?: { store?: Store; health?: Health; live?: LiveRoles; metrics?: MetricsRegistry }): Promise<RunningRole> {
  const log = logger.child({ role: 'sbc' });
  // The signing keys live in the database (sealed), so that pool instances and restarts verify old dialogs.
  const store = shared?.store ?? (await openStoreFromConfig(cfg));
  const ksp = sbcKey(cfg);
  // One registry for the process; the session table counts registrations of every protocol (docs/metrics.md).
  const registry = shared?.metrics ?? new MetricsRegistry();
  const protocols = sbcProtocolMetrics(registry);
  const sessions = protocols.sessions;
  const mechs = cfg.sbc.mechanisms;
  const c = cfg.sbc;
  // The gateway relays' softswitch lists, checked against sbc.softswitch before anything starts.
  const gatewayLists = {
    mgcp: c.mgcpPort ? alignGatewayList(c.softswitchMgcp, c.softswitch, 'sbc.softswitchMgcp') : undefined,
    h248: c.h248Port ? alignGatewayList(c.softswitchH248, c.softswitch, 'sbc.softswitchH248') : undefined,
    h323: c.h323Port ? alignGatewayList(c.softswitchH323, c.softswitch, 'sbc.softswitchH323') : undefined,
  };
  // The intrusion detection of the process (shared with the API under `up`; docs/ids.md).
  const ids = acquireIds(cfg.ids, { logger: log, metrics: registry, stateDir: join(cfg.dataDir, 'ids'), shared: idsSharedFromConfig(cfg, log) });
  // Operators see and steer the SBC through this (docs/operations.md); made once the SIP side runs.
  let control: SbcControl | undefined;
  // Several instances of a pool share the KS1 replay state and the registrations on Redis (docs/scale-out.md); none configured: in the process.
  const redis = sharedRedisFromConfig(cfg, log, 'sbc');
  const replayState = redis ? new RedisSbcState(redis, c.idsp) : undefined;
  const shares = replayState ? { replayState } : {};
  const sharedSessions = redis ? new RedisSbcSessions(redis, store.vault, c.idsp) : undefined;
  if (sharedSessions) sessions.share(sharedSessions, (e, what) => log.warn({ err: e instanceof Error ? e.message : String(e) }, `sbc: could not ${what} in the shared state`));
  const sip = await startSbc({
    ...shares,
    // where terminals are reached, so that another instance reaches them when theirs dies (docs/scale-out.md)
    ...(redis ? { sharedContacts: new RedisSbcContacts(redis, c.idsp) } : {}),
    idsp: c.idsp,
    ksp,
    untrusted: { host: c.host, advertisedHost: advertised(c.host, c.advertise), udpPort: c.udpPort || false, tcpPort: c.tcpPort || false, tlsPort: c.tlsPort || false, tlsPskPort: c.tlsPskPort || false },
    softswitch: {
      ...(await coreLink(requiredHostPort(c.softswitch[0], 'sbc.softswitch'), c.coreAddress, log)),
      transport: c.coreTransport,
      more: c.softswitch.slice(1), noAnswerMs: c.softswitchNoAnswerMs, probeMs: c.softswitchProbeSeconds * 1000, timerCMs: c.timerCSeconds * 1000,
    },
    coreLinkKey: coreLinkKey(cfg.dataDir, cfg.coreLink.key),
    offered: mechs,
    tls: { dataDir: cfg.dataDir, ...(c.tls.certFile ? { certFile: c.tls.certFile } : {}), ...(c.tls.keyFile ? { keyFile: c.tls.keyFile } : {}) },
    sessions,
    logger: log,
    store: { signingKeys: store.signingKeys },
    signing: signing(cfg, (a) => control?.onBlock(a)),
    connections: connections(cfg),
    overload: { maxPending: cfg.overload.sbcMaxPending, maxWaitMs: cfg.overload.sbcMaxWaitMs, busyHigh: cfg.overload.sbcBusyPercent / 100, lagHighMs: cfg.overload.sbcLagMs, delayHighMs: cfg.overload.sbcCoreDelayMs, retryAfterSec: cfg.overload.retryAfterSeconds },
    metrics: registry,
    ...(ids ? { ids: ids.service.engine } : {}),
    ...(c.metricsPort ? { metricsPort: c.metricsPort, metricsHost: c.metricsHost || '127.0.0.1' } : {}),
    ...(shared?.health ? { health: shared.health } : {}),
  });
  control = new SbcControl({ idsp: c.idsp, sessions, failures: sip.failures, guard: sip.signatureGuard, state: store.sbcState, logger: log, ...(ids ? { ids: ids.service.engine } : {}) });
  const onIdsBlock = (b: Parameters<SbcControl['onIdsBlock']>[0]) => control?.onIdsBlock(b);
  ids?.service.engine.blockListeners.add(onIdsBlock);
  await control.start();
  if (shared?.live) shared.live.sbc = control;
  const p = sip.ports;
  const listening = [
    {
      name: 'SBC SIP (terminals)',
      address: `${c.host} ${[p.udp && `udp ${p.udp}`, p.tcp && `tcp ${p.tcp}`, p.tls && `tls ${p.tls}`, p.tlsPsk && `tls-psk ${p.tlsPsk}`].filter(Boolean).join(', ')}; offers ${sip.offered.map((m) => `${m.name};q=${m.q}`).join(', ')}`,
    },
  ];
  if (sip.certificate) listening.push({ name: 'SBC TLS certificate', address: `${sip.certificate.certFile} (SHA-256 ${sip.certificate.fingerprint256})` });
  const gatewayOffer = [{ name: 'app-hmac', q: 0.3 }];
  const gatewayOverload = { maxCorePending: cfg.overload.sbcMaxPending, socketWaitHighMs: cfg.overload.sbcGatewayWaitMs };
  // Each gateway relay sends to the softswitch instance the SIP side holds first alive, and marks it down on silence (docs/scale-out.md).
  const toSoftswitches = (list: ReturnType<typeof alignGatewayList>) => ({ softswitch: list, pool: sip.softswitches, noAnswerMs: c.softswitchNoAnswerMs });
  const mgcp = c.mgcpPort
    ? await startListener('SBC MGCP', listenAddress(c.host, c.mgcpPort, 'udp'), () => startMgcpRelay({ ...shares, ...gatewayOverload, listen: { host: c.host, port: c.mgcpPort }, ...toSoftswitches(gatewayLists.mgcp!), sbc: { idsp: c.idsp, ksp, offered: gatewayOffer }, sessions, logger: log, ...(ids ? { ids: ids.service.engine } : {}) }))
    : undefined;
  if (mgcp) listening.push({ name: 'SBC MGCP (gateways)', address: `${c.host} udp ${mgcp.port}` });
  if (mgcp) protocols.followRelay('mgcp', () => {
    const { counters: k, gate, access: t } = mgcp.stats();
    return { refused: k.refused, rechallenged: k.rechallenged, shed: k.shed, refusedShare: gate.refusedShare, rejected: k.hmacRejected, transport: { resent: t.retransmissions, duplicates: t.duplicates, rtoMs: t.rtoMs } };
  });
  const mgcpHealth = mgcp ? shared?.health?.listener('SBC MGCP', listenAddress(c.host, mgcp.port, 'udp')) : undefined;
  const h248 = c.h248Port
    ? await startListener('SBC H.248', listenAddress(c.host, c.h248Port, 'udp'), () => startH248Relay({ ...shares, ...gatewayOverload, listen: { host: c.host, port: c.h248Port }, ...toSoftswitches(gatewayLists.h248!), sbc: { idsp: c.idsp, ksp, offered: gatewayOffer }, sessions, logger: log, ...(ids ? { ids: ids.service.engine } : {}) }))
    : undefined;
  if (h248) listening.push({ name: 'SBC H.248 (gateways)', address: `${c.host} udp ${h248.port}` });
  if (h248) protocols.followRelay('h248', () => {
    const k = h248.stats();
    const t = k.access;
    return { refused: k.refused, rechallenged: k.rechallenged, shed: k.shed, refusedShare: k.gate.refusedShare, rejected: k.authRejected, transport: { resent: t.retransmissions, duplicates: t.duplicates, rtoMs: t.rtoMs } };
  });
  const h248Health = h248 ? shared?.health?.listener('SBC H.248', listenAddress(c.host, h248.port, 'udp')) : undefined;
  // H.323 RAS is UDP: only app-hmac is meaningful there (docs/h323.md).
  const h323 = c.h323Port
    ? await startListener('SBC H.323', listenAddress(c.host, c.h323Port, 'udp'), () => startH323Relay({ ...shares, listen: { host: c.host, port: c.h323Port }, ...toSoftswitches(gatewayLists.h323!), sbc: { idsp: c.idsp, ksp, offered: gatewayOffer }, sessions, ...(c.advertise ? { advertise: c.advertise } : {}), logger: log, ...(ids ? { ids: ids.service.engine } : {}) }))
    : undefined;
  if (h323) listening.push({ name: 'SBC H.323 (endpoints)', address: `${c.host} udp ${h323.port}` });
  const h323Health = h323 ? shared?.health?.listener('SBC H.323', listenAddress(c.host, h323.port, 'udp')) : undefined;
  if (sip.metricsPort) listening.push({ name: 'SBC metrics', address: `http://${listenAddress(c.metricsHost || '127.0.0.1', sip.metricsPort)}/metrics` });
  return {
    listening,
    async stop() {
      h323Health?.down('stopped');
      h248Health?.down('stopped');
      mgcpHealth?.down('stopped');
      await h323?.close();
      await h248?.close();
      await mgcp?.close();
      await sip.close();
      if (shared?.live?.sbc === control) delete shared.live.sbc;
      await control?.stop();
      ids?.service.engine.blockListeners.delete(onIdsBlock);
      ids?.release();
      if (!shared?.store) await store.close();
      await sharedSessions?.close();
      await redis?.close();
    },
  };
}
