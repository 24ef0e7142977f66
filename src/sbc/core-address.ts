import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { parseHostPort } from '../config/addresses.js';

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
  if (ss === 'localhost' || ss.startsWith('127.') || ss === '::1') return { bindHost: ss === '::1' ? '::1' : '127.0.0.1' };
  return { bindHost: (await localAddressToward(ss, softswitch.port)) ?? '0.0.0.0' };
}

/** The source address the system would use toward host:port (a connected UDP socket: nothing is sent), or undefined when there is no route. */
export function localAddressToward(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const done = (address?: string) => {
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(address);
    };
    socket.once('error', () => done(undefined));
    socket.connect(port, host, () => {
      let address: string | undefined;
      try {
        address = socket.address().address;
      } catch {
        address = undefined;
      }
      done(address);
    });
  });
}
