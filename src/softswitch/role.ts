import { keyFromHex } from '../config/addresses.js';
import type { Config } from '../config/load.js';
import { configuredOrStoredSecret, coreLinkKey } from '../config/secrets.js';
import type { Logger } from '../log/logger.js';
import { listenAddress, startListener, type Health } from '../metrics/health.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { SoftswitchMetrics } from './metrics.js';
import type { RadiusAucClient } from '../adapters/radius/auc-client.js';
import { openStoreFromConfig, type Store } from '../store/index.js';
import { aucClientFromConfig } from './auc-client.js';
import { startH248Softswitch } from './h248-mgc.js';
import { startH323Gatekeeper } from './h323-gatekeeper.js';
import { startMgcpSoftswitch } from './mgcp-agent.js';
import { startSoftswitch } from './run.js';
import { voicemailFromConfig } from './voicemail-policy.js';
import { randomBytes } from 'node:crypto';
import type { RunningRole } from '../contracts/role.js';

/** The softswitch's own identity for terminals without an SBC, if one is configured. */
export function softswitchIdentity(cfg: Config): { id: string; key: Buffer } | undefined {
  if (!cfg.softswitch.identity) return undefined;
  const hex = configuredOrStoredSecret(cfg.dataDir, 'softswitch.key', cfg.softswitch.key, () => randomBytes(32).toString('hex'));
  return { id: cfg.softswitch.identity, key: keyFromHex(hex, 'softswitch.key') };
}

/** Starts the softswitch: SIP registrar (KS1 and Digest), MGCP call agent, H.248 MGC, all on one AuC client. */
export async function startSoftswitchRole(cfg: Config, logger: Logger, shared?: { store?: Store; health?: Health; metrics?: MetricsRegistry }): Promise<RunningRole> {
  const log = logger.child({ role: 'softswitch' });
  const store = shared?.store ?? (await openStoreFromConfig(cfg, { onNotice: (line) => log.warn(line) }));
  // One registry for the process (`up` serves it at metrics.address); SIP, MGCP and H.248 count into the same metrics.
  const registry = shared?.metrics ?? new MetricsRegistry();
  const metrics = new SoftswitchMetrics(registry);
  const link = cfg.softswitch.auc.protocol;
  const raw = aucClientFromConfig(cfg);
  if (link === 'radius') metrics.followRadiusTransport(() => (raw as RadiusAucClient).stats());
  const auc = metrics.observeAucLink(raw, link);
  const host = cfg.softswitch.sip.host;
  const identity = softswitchIdentity(cfg);
  const sip = await startSoftswitch({
    sip: {
      host,
      udpPort: cfg.softswitch.sip.port,
      tcpPort: cfg.softswitch.sip.port,
      ...(identity && cfg.softswitch.sip.tlsPskPort ? { tlsPskPort: cfg.softswitch.sip.tlsPskPort } : {}),
    },
    trustedSbcs: cfg.softswitch.trustedSbcs,
    coreLinkKey: coreLinkKey(cfg.dataDir, cfg.coreLink.key),
    realm: cfg.softswitch.realm,
    ...(identity ? { identity } : {}),
    expires: { min: cfg.softswitch.expires.minSeconds, max: cfg.softswitch.expires.maxSeconds, default: cfg.softswitch.expires.defaultSeconds },
    aucTimeoutMs: cfg.softswitch.auc.timeoutMs,
    reportLagSec: cfg.softswitch.reportLagSeconds,
    aucMaxInFlight: cfg.overload.softswitchAucInFlight,
    digestAlgorithms: cfg.softswitch.digestAlgorithms,
    digestMaxNonces: cfg.softswitch.digestMaxNonces,
    digestNoncesPerIdentity: cfg.softswitch.digestNoncesPerIdentity,
    ...(cfg.softswitch.metricsPort ? { metricsPort: cfg.softswitch.metricsPort } : {}),
    metricsRegistry: registry,
    auc,
    store,
    // voicemail (docs/voicemail.md); the other instances' Record-Route entries taken as ours (docs/scale-out.md)
    calls: { ...((vm) => (vm ? { voicemail: vm } : {}))(voicemailFromConfig(cfg)), peers: cfg.softswitch.sip.peers, sbcPool: cfg.softswitch.sbcPool },
    logger: log,
    ...(shared?.health ? { health: shared.health } : {}),
  });
  const listening = [
    { name: 'softswitch SIP', address: `${host} udp ${sip.ports.udp}, tcp ${sip.ports.tcp}${sip.ports.tlsPsk ? `, tls-psk ${sip.ports.tlsPsk}` : ''} (AuC over ${cfg.softswitch.auc.protocol})` },
  ];
  if (sip.ports.metrics) listening.push({ name: 'softswitch metrics', address: `http://${host}:${sip.ports.metrics}/metrics` });
  const mgcpPort = cfg.softswitch.mgcpPort;
  const mgcp = mgcpPort ? await startListener('softswitch MGCP', listenAddress(host, mgcpPort, 'udp'), () => startMgcpSoftswitch({ listen: { host, port: mgcpPort }, auc: metrics.observeAuc(auc, 'mgcp'), logger: log, onRegistrationStep: (r, s) => metrics.registrationStep('mgcp', r, s) })) : undefined;
  const mgcpHealth = mgcp ? shared?.health?.listener('softswitch MGCP', listenAddress(host, mgcp.port, 'udp')) : undefined;
  if (mgcp) listening.push({ name: 'softswitch MGCP call agent', address: `${host} udp ${mgcp.port}` });
  const h248Port = cfg.softswitch.h248Port;
  const h248 = h248Port ? await startListener('softswitch H.248', listenAddress(host, h248Port, 'udp'), () => startH248Softswitch({ listen: { host, port: h248Port }, auc: metrics.observeAuc(auc, 'h248'), logger: log, onRegistrationStep: (r, s) => metrics.registrationStep('h248', r, s) })) : undefined;
  const h248Health = h248 ? shared?.health?.listener('softswitch H.248', listenAddress(host, h248.port, 'udp')) : undefined;
  if (h248) listening.push({ name: 'softswitch H.248 MGC', address: `${host} udp ${h248.port}` });
  const h323Port = cfg.softswitch.h323Port;
  const h323 = h323Port ? await startListener('softswitch H.323', listenAddress(host, h323Port, 'udp'), () => startH323Gatekeeper({ listen: { host, port: h323Port }, auc: metrics.observeAuc(auc, 'h323'), logger: log, onRegistrationStep: (r, s) => metrics.registrationStep('h323', r, s) })) : undefined;
  const h323Health = h323 ? shared?.health?.listener('softswitch H.323', listenAddress(host, h323.port, 'udp')) : undefined;
  if (h323) listening.push({ name: 'softswitch H.323 gatekeeper', address: `${host} udp ${h323.port}` });
  registry.gauge('keyswitch_softswitch_registered_gateways', 'Gateways registered now at the MGCP call agent and the H.248 MGC, by protocol.', { labelNames: ['protocol'] }).onCollect((g) => {
    if (mgcp) g.set(mgcp.stats().registered, { protocol: 'mgcp' });
    if (h248) g.set(h248.stats().registered, { protocol: 'h248' });
  });
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
      await auc.close();
      if (!shared?.store) await store.close();
    },
  };
}
