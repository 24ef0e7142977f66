/**
 * Endpoint names (RFC 3435 §2.1.1): `local-name@domain-name`. The local name
 * is `/`-separated terms; a term may be the wildcard `*` (all) or `$` (any)
 * but a wildcard never shares a term with other characters. The domain is a
 * host name or `[address]`, optionally with `:port`.
 */

const TERM = /^[\x21-\x7e]+$/; // visible ASCII; `@` and `/` are excluded below
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?$/;
const BRACKETED = /^\[[0-9A-Fa-f:.]+\]$/;
export const MAX_ENDPOINT = 255;

export interface EndpointName {
  local: string;
  domain: string;
}

export function parseEndpointName(text: string): EndpointName | undefined {
  if (typeof text !== 'string' || text.length > MAX_ENDPOINT) return undefined;
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return undefined;
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  for (const term of local.split('/')) {
    if (term === '' || !TERM.test(term) || term.includes('@')) return undefined;
    if (term.length > 1 && (term.includes('*') || term.includes('$'))) return undefined;
  }
  let host = domain;
  const colon = domain.lastIndexOf(':');
  if (colon > 0 && !domain.endsWith(']')) {
    const port = domain.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined;
    host = domain.slice(0, colon);
  }
  if (!HOST.test(host) && !BRACKETED.test(host)) return undefined;
  return { local, domain };
}

/** The domain part lower-cased (domain names are case-insensitive); undefined when the name is malformed. */
export function endpointDomain(text: string): string | undefined {
  return parseEndpointName(text)?.domain.toLowerCase();
}

export const hasWildcard = (e: EndpointName): boolean => e.local.split('/').some((t) => t === '*' || t === '$');
