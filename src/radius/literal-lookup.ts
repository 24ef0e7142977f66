/**
 * dgram looks up every destination, and dns.lookup answers even an IP literal
 * on the next tick: a closure, a tick and a second pass through the send path
 * per datagram. RADIUS sends go to a source address (the server) or a
 * configured server address, nearly always literals: those go out at once; a
 * name is still looked up. (The SIP UDP transport does the same.)
 */
import dns from 'node:dns';
import type { SocketOptions } from 'node:dgram';
import { isIP } from 'node:net';

function literalFirst(host: string, options: dns.LookupOptions | number, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(host);
  if (family !== 0) cb(null, host, family);
  else if (typeof options === 'number') dns.lookup(host, options, cb);
  else dns.lookup(host, { ...options, all: false }, cb);
}

export const literalFirstLookup = literalFirst as SocketOptions['lookup'];
