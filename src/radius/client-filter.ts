/** Allowed RADIUS client sources as CIDRs (IPv4 and IPv6), checked per datagram. */
import { BlockList, isIP } from 'node:net';

export type SourceFilter = (address: string) => boolean;

/** What an empty client list allows: this host only (the softswitch of `keyswitch up`). */
export const LOOPBACK_ONLY: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** A filter over the given CIDRs; none given means loopback only, never any source. */
export function sourceFilter(given: readonly string[] | undefined): SourceFilter {
  return cidrFilter(given && given.length > 0 ? given : LOOPBACK_ONLY, 'client');
}

/**
 * Is an address in these CIDRs (a bare address is a /32 or /128)? `what` names the
 * setting in the error a malformed entry throws. Asked per datagram or several times
 * per request, and BlockList.check builds a SocketAddress each time: the answers of
 * the sources seen lately are kept, in a bounded table emptied when full (spoofed
 * sources only cost the check again).
 */
export function cidrFilter(cidrs: readonly string[], what: string): SourceFilter {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.trim().split('/');
    const family = isIP(net ?? '');
    if (family === 0) throw new RangeError(`bad ${what} CIDR: ${cidr}`);
    const max = family === 4 ? 32 : 128;
    if (bits !== undefined && (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max)) throw new RangeError(`bad ${what} CIDR: ${cidr}`);
    list.addSubnet(net!, bits === undefined ? max : Number(bits), family === 4 ? 'ipv4' : 'ipv6');
  }
  const check = (address: string): boolean => {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : undefined;
    if (v4) return list.check(v4, 'ipv4');
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  const known = new Map<string, boolean>();
  return (address) => {
    let v = known.get(address);
    if (v === undefined) {
      v = check(address);
      if (known.size >= MEMO_MAX) known.clear();
      known.set(address, v);
    }
    return v;
  };
}

const MEMO_MAX = 4096;
