import type { AucService } from '../contracts/auc.js';
import { ConfigError, type Config } from '../config/load.js';
import { configuredOrStoredSecret } from '../config/secrets.js';
import { diameterTlsMode, softswitchDiameterPsk, softswitchOriginHost } from '../config/diameter-link.js';
import { DiameterAucClient } from '../adapters/diameter/auc-client.js';
import { RadiusAucClient } from '../adapters/radius/auc-client.js';

export interface AucClient extends AucService {
  close(): Promise<void>;
}

/** The softswitch's way to the AuC, by configuration: RADIUS or Diameter, several peers in failover order. */
export function aucClientFromConfig(cfg: Config): AucClient {
  const proto = cfg.softswitch.auc.protocol;
  const configured = cfg.softswitch.auc.peers;
  if (proto === 'radius') {
    const peers = configured.length ? configured : [{ host: cfg.auc.radius.host, port: cfg.auc.radius.authPort }];
    const secret = configuredOrStoredSecret(cfg.dataDir, 'radius.secret', cfg.auc.radius.secret);
    return new RadiusAucClient({
      secret,
      servers: peers.map((p) => ({
        host: p.host,
        authPort: p.port,
        // Without explicit peers this is the local AuC, whose accounting port is configured separately.
        acctPort: configured.length ? p.port + 1 : cfg.auc.radius.acctPort,
      })),
      timeoutMs: Math.max(100, Math.min(1000, Math.floor(cfg.softswitch.auc.timeoutMs / 3))),
      totalTimeoutMs: cfg.softswitch.auc.timeoutMs,
    });
  }
  if (proto === 'diameter') {
    const peers = configured.length ? configured : [{ host: cfg.auc.diameter.host, port: cfg.auc.diameter.port }];
    const client = new DiameterAucClient({
      peers,
      // The AuC admits this name only from the addresses it lists for it (auc.diameter.peers).
      originHost: softswitchOriginHost(cfg),
      originRealm: cfg.auc.diameter.originRealm,
      destinationRealm: cfg.auc.diameter.originRealm,
      timeoutMs: cfg.softswitch.auc.timeoutMs,
      ...(diameterTlsMode(cfg) === 'psk' ? { tlsPsk: softswitchDiameterPsk(cfg) } : {}),
    });
    return client;
  }
  throw new ConfigError(`softswitch.auc.protocol must be radius or diameter, not ${JSON.stringify(proto)}`);
}
