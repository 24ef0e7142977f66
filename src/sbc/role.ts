import { randomBytes } from 'node:crypto';
import { keyFromHex, parseHostPort } from '../config/addresses.js';
import { ConfigError, type Config } from '../config/load.js';
import { configuredOrStoredSecret } from '../config/secrets.js';
import { parseMechanisms } from '../flow/mechanisms.js';
import type { Mechanism } from '../flow/messages.js';
import type { Logger } from '../log/logger.js';
import type { RunningRole } from '../softswitch/role.js';
import { startH248Relay } from './h248-relay.js';
import { startMgcpRelay } from './mgcp-relay.js';
import { startSbc } from './run.js';
import { SessionTable } from './sessions.js';

/** The SBC's key Ksp: configured, or generated once into the data directory. */
export function sbcKey(cfg: Config): Buffer {
  return keyFromHex(configuredOrStoredSecret(cfg.dataDir, 'sbc.key', cfg.sbc.key, () => randomBytes(32).toString('hex')), 'sbc.key');
}

function offered(text: string): Mechanism[] {
  const r = parseMechanisms(text);
  if (!r.ok) throw new ConfigError(`sbc.mechanisms: ${r.error}`);
  for (const m of r.list.items) {
    if (!['tls-psk', 'app-hmac', 'tls'].includes(m.name)) throw new ConfigError(`sbc.mechanisms: ${m.name} is not implemented (tls-psk, app-hmac, tls are)`);
  }
  return r.list.items;
}

/** Starts the SBC: SIP proxy with its mechanisms, MGCP and H.248 relays, one session table for all. */
export async function startSbcRole(cfg: Config, logger: Logger): Promise<RunningRole> {
  const log = logger.child({ role: 'sbc' });
  const ksp = sbcKey(cfg);
  const sessions = new SessionTable();
  const mechs = offered(cfg.sbc.mechanisms);
  const c = cfg.sbc;
  const sip = await startSbc({
    idsp: c.idsp,
    ksp,
    untrusted: { host: c.host, udpPort: c.udpPort || false, tcpPort: c.tcpPort || false, tlsPort: c.tlsPort || false, tlsPskPort: c.tlsPskPort || false },
    softswitch: parseHostPort(c.softswitch, 'sbc.softswitch'),
    offered: mechs,
    tls: { dataDir: cfg.dataDir, ...(c.tls.certFile ? { certFile: c.tls.certFile } : {}), ...(c.tls.keyFile ? { keyFile: c.tls.keyFile } : {}) },
    sessions,
    logger: log,
  });
  const p = sip.ports;
  const listening = [
    {
      name: 'SBC SIP (terminals)',
      address: `${c.host} ${[p.udp && `udp ${p.udp}`, p.tcp && `tcp ${p.tcp}`, p.tls && `tls ${p.tls}`, p.tlsPsk && `tls-psk ${p.tlsPsk}`].filter(Boolean).join(', ')}; offers ${sip.offered.map((m) => `${m.name};q=${m.q}`).join(', ')}`,
    },
  ];
  if (sip.certificate) listening.push({ name: 'SBC TLS certificate', address: `${sip.certificate.certFile} (SHA-256 ${sip.certificate.fingerprint256})` });
  const gatewayOffer = [{ name: 'app-hmac', q: 0.3 }];
  const mgcp = c.mgcpPort
    ? await startMgcpRelay({ listen: { host: c.host, port: c.mgcpPort }, softswitch: parseHostPort(c.softswitchMgcp, 'sbc.softswitchMgcp'), sbc: { idsp: c.idsp, ksp, offered: gatewayOffer }, sessions, logger: log })
    : undefined;
  if (mgcp) listening.push({ name: 'SBC MGCP (gateways)', address: `${c.host} udp ${mgcp.port}` });
  const h248 = c.h248Port
    ? await startH248Relay({ listen: { host: c.host, port: c.h248Port }, softswitch: parseHostPort(c.softswitchH248, 'sbc.softswitchH248'), sbc: { idsp: c.idsp, ksp, offered: gatewayOffer }, sessions, logger: log })
    : undefined;
  if (h248) listening.push({ name: 'SBC H.248 (gateways)', address: `${c.host} udp ${h248.port}` });
  return {
    listening,
    async stop() {
      await h248?.close();
      await mgcp?.close();
      await sip.close();
    },
  };
}
