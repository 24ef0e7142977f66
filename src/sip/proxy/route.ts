/**
 * RFC 3261 §16.4 route information preprocessing and §16.6 step 4 (Record-Route), one
 * implementation for every proxy role.
 */
import { formatHost, formatUri, isSipUri } from '../headers/uri.js';
import type { SipRequest } from '../message.js';
import type { SipTransport } from '../transport/types.js';
import type { OwnAddresses } from './own-addresses.js';

/**
 * Removes the Route entries naming us from the top of `fwd`; when the Request-URI names us
 * (a strict-routing previous hop put our Route entry there, §16.4) it is replaced by the
 * last Route entry, which leaves the set. Returns how many Route entries remain, how many
 * of ours went, and whether a strict router's Request-URI was repaired. Throws SipHeaderError on a Route that does not parse (the stack answers 400).
 */
export function popOwnRoutes(fwd: SipRequest, own: OwnAddresses): { remaining: number; popped: number; strict: boolean } {
  const routes = fwd.routes();
  let popped = 0;
  while (popped < routes.length) {
    const u = routes[popped]!.uri;
    if (!isSipUri(u) || !own.uri(u)) break;
    popped++;
  }
  for (let i = 0; i < popped; i++) fwd.shift('Route');
  let remaining = routes.length - popped;
  let strict = false;
  if (remaining > 0) {
    const ruri = fwd.requestUri();
    if (isSipUri(ruri) && ruri.user === undefined && own.uri(ruri)) {
      const all = fwd.list('route');
      const last = routes[routes.length - 1]!;
      fwd.remove('Route');
      for (const r of all.slice(0, -1)) fwd.append('Route', r);
      fwd.uri = formatUri(last.uri);
      remaining--;
      strict = true;
    }
  }
  return { remaining, popped, strict };
}

/** Our Record-Route entry for one transport (loose routing, `transport=` unless UDP). */
export function recordRouteUri(t: SipTransport, host: string = t.host): string {
  return `<sip:${formatHost(host)}:${t.port}${t.protocol === 'udp' ? '' : ';transport=' + t.protocol};lr>`;
}

/**
 * Record-Route per side (RFC 5658): the entry facing the side the request came from, and,
 * when it leaves on another transport, one facing the side it goes to (on top). In-dialog
 * requests from either side then come back to the interface that faces them.
 */
export function recordRoutePerSide(fwd: SipRequest, inbound: SipTransport, outbound: SipTransport, host?: (t: SipTransport) => string): void {
  fwd.prepend('Record-Route', recordRouteUri(inbound, host?.(inbound)));
  if (outbound !== inbound) fwd.prepend('Record-Route', recordRouteUri(outbound, host?.(outbound)));
}
