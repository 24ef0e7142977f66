/** Allowed RADIUS client sources as CIDRs (IPv4 and IPv6), checked per datagram. */
import { BlockList, isIP } from 'node:net';

export type SourceFilter = (address: string) => boolean;

/** What an empty client list allows: this host only (the softswitch of `keyswitch up`). */
export const LOOPBACK_ONLY: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** A filter over the given CIDRs; none given means loopback only, never any source. */
export function sourceFilter(given: readonly string[] | undefined): SourceFilter {
  const cidrs = given && given.length > 0 ? given : LOOPBACK_ONLY;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    const family = isIP(net);
    if (family === 0) throw new Error(`bad client CIDR: ${cidr}`);
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`bad client CIDR: ${cidr}`);
    list.addSubnet(net, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  const check = (address: string): boolean => {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : undefined;
    if (v4) return list.check(v4, 'ipv4');
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  // Checked per datagram (BlockList.check builds a SocketAddress each time): the answers of the sources seen
  // lately are kept, a bounded table emptied when full (spoofed sources only cost the check again).
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
