/**
 * Identities compared as SIP compares URIs (RFC 3261 §19.1.4): the user part
 * is case-sensitive and compared after unescaping, the host is
 * case-insensitive. An identity here is the address-of-record a URI names,
 * `user@host` (an IDc, a TLS-PSK identity, an asserted identity); scheme,
 * port and parameters are not part of it.
 *
 * One canonical form, so that equal identities are equal strings (map keys)
 * and a comparison cannot be won by writing a host in another case:
 * `user@host` with the user unescaped and as written, the host lower-cased,
 * an IPv6 host in brackets; a URI without a user part gives its host alone.
 */
import { isSipUri, unescapeUri, type Uri } from './headers/uri.js';

function canonicalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const h = bare.toLowerCase();
  return h.indexOf(':') >= 0 ? `[${h}]` : h;
}

/** The identity a SIP or SIPS URI names, canonical; undefined for any other scheme. */
export function identityOfUri(u: Uri): string | undefined {
  if (!isSipUri(u)) return undefined;
  const host = canonicalHost(u.host);
  return u.user !== undefined ? `${unescapeUri(u.user)}@${host}` : host;
}

/**
 * The canonical form of an identity already written as `user@host` (the user
 * unescaped, as IDcs are): the host after the last `@` lower-cased.
 */
export function canonicalIdentity(id: string): string {
  const at = id.lastIndexOf('@');
  return at < 0 ? canonicalHost(id) : id.slice(0, at + 1) + canonicalHost(id.slice(at + 1));
}

/** Do two identities name the same party? Undefined never matches anything. */
export function sameIdentity(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return a === b || canonicalIdentity(a) === canonicalIdentity(b);
}
