import { parseHostPort } from '../config/addresses.js';
import { isLoopbackHost, localAddressToward } from '../sip/transport/local-address.js';

/**
 * Where the SBC's link to the softswitch binds. It is also what the SBC writes
 * in core-side Via and Record-Route, so it must be an address the softswitch
 * can send to: never 0.0.0.0, which a Record-Route cannot name (the softswitch
 * could then not send in-dialog requests back through the SBC).
 *
 * `sbc.coreAddress` when set (`host` or `host:port`); loopback for a softswitch
 * on loopback; else the local address this host routes to the softswitch from.
 */
export async function coreBinding(softswitch: { host: string; port: number }, configured: string): Promise<{ bindHost: string; bindPort?: number }> {
  const text = configured.trim();
  if (text) {
    if (/^\[.+\]:\d+$/.test(text) || /^[^:]+:\d+$/.test(text)) {
      const hp = parseHostPort(text, 'sbc.coreAddress');
      return { bindHost: hp.host, bindPort: hp.port };
    }
    return { bindHost: text.replace(/^\[(.+)\]$/, '$1') };
  }
  const ss = softswitch.host;
  if (isLoopbackHost(ss)) return { bindHost: ss === '::1' ? '::1' : '127.0.0.1' };
  return { bindHost: (await localAddressToward(ss, softswitch.port)) ?? '0.0.0.0' };
}
