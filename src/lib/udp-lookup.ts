/**
 * A `lookup` for dgram sockets that answers an IP address literal itself, at once.
 *
 * dgram looks up the destination of every datagram, and the default lookup
 * (dns.lookup) answers even a literal on the next tick: a closure, a tick and a
 * second pass through the send path per datagram. Signalling peers are nearly
 * always literals (a request's source, a configured server address), so those
 * go out in the same turn; a name is still handed to dns.lookup unchanged.
 *
 * A literal gets what dns.lookup would give it: its own family whatever family
 * was asked for (a mismatch then fails in the send, as before), and an array of
 * one address when the caller asks for `all: true` (net's autoSelectFamily does).
 * Errors come from dns.lookup and reach the callback as they are.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';

type One = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
type All = (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void;
type Either = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family: number) => void;

export function literalFirstLookup(host: string, family: number | dns.LookupOneOptions, cb: One): void;
export function literalFirstLookup(host: string, options: dns.LookupAllOptions, cb: All): void;
export function literalFirstLookup(host: string, options: dns.LookupOptions, cb: Either): void;
export function literalFirstLookup(host: string, options: number | dns.LookupOptions, cb: One | All | Either): void {
  const family = isIP(host);
  if (family === 0) dns.lookup(host, options as dns.LookupOptions, cb as Either);
  else if (typeof options === 'object' && options.all === true) (cb as All)(null, [{ address: host, family }]);
  else (cb as One)(null, host, family);
}
