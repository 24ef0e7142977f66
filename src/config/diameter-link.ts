/**
 * The softswitch ↔ AuC Diameter link as configured (docs/diameter.md
 * "Who may be a peer"): the softswitch's Origin-Host, whether the link runs
 * over TLS-PSK, and the keys. Both roles read these, so `keyswitch up` and
 * roles sharing a data directory agree with no setup.
 */
import { randomBytes } from 'node:crypto';
import { peerPsk } from '../diameter/tls-psk.js';
import { keyFromHex } from './addresses.js';
import type { Config } from './load.js';
import { configuredOrStoredSecret } from './secrets.js';

export function softswitchOriginHost(cfg: Config): string {
  return cfg.softswitch.auc.originHost || `softswitch.${cfg.auc.diameter.originRealm}`;
}

export function diameterTlsMode(cfg: Config): 'psk' | 'off' {
  return cfg.auc.diameter.tls;
}

/** The AuC's TLS-PSK secret: configured, or `diameter.psk` in the data directory (generated once, mode 0600). */
export function diameterPskSecret(cfg: Config): Buffer {
  const hex = configuredOrStoredSecret(cfg.dataDir, 'diameter.psk', cfg.auc.diameter.psk, () => randomBytes(32).toString('hex'));
  return keyFromHex(hex, 'auc.diameter.psk');
}

/** The softswitch's own key: configured as is, or derived from the AuC's secret and its Origin-Host. */
export function softswitchDiameterPsk(cfg: Config): Buffer {
  if (cfg.softswitch.auc.psk) return keyFromHex(cfg.softswitch.auc.psk, 'softswitch.auc.psk');
  return peerPsk(diameterPskSecret(cfg), softswitchOriginHost(cfg));
}
