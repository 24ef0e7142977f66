/**
 * Authorization, Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate,
 * Authentication-Info (RFC 3261 §25.1, RFC 7616): a scheme and a comma-separated
 * list of auth-params. Generic, so it serves Digest and the project's KS1 alike.
 */
import { SipHeaderError, isToken, isTokenChar, quote, readQuoted, skipWs } from './lex.js';

export interface AuthValue {
  /** As written, e.g. `Digest`, `KS1`; compare case-insensitively. Empty for Authentication-Info, which has no scheme. */
  scheme: string;
  /** Lower-cased names, unquoted and unescaped values. */
  params: Record<string, string>;
}

/**
 * @param hasScheme false for Authentication-Info as RFC 3261 defines it (no scheme);
 *   when true, a scheme token must come first. "auto" takes a leading token not followed by `=` as the scheme.
 */
export function parseAuth(s: string, header: string, hasScheme: boolean | 'auto' = true): AuthValue {
  let i = skipWs(s, 0);
  let scheme = '';
  const ts = i;
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  const first = s.slice(ts, i);
  const afterFirst = skipWs(s, i);
  const looksLikeParam = s.charCodeAt(afterFirst) === 61;
  if (hasScheme === true || (hasScheme === 'auto' && first && !looksLikeParam)) {
    if (!first) throw new SipHeaderError(header, 'missing scheme');
    scheme = first;
    if (i < s.length && s.charCodeAt(i) !== 32 && s.charCodeAt(i) !== 9) throw new SipHeaderError(header, 'bad scheme');
  } else i = ts;
  const params: Record<string, string> = {};
  i = skipWs(s, i);
  let expectParam = true;
  while (i < s.length) {
    if (!expectParam) {
      if (s.charCodeAt(i) !== 44) throw new SipHeaderError(header, 'expected ,');
      i = skipWs(s, i + 1);
      expectParam = true;
      continue;
    }
    const ns = i;
    while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
    const name = authParamKey(s.slice(ns, i));
    if (!name) throw new SipHeaderError(header, 'bad auth-param');
    i = skipWs(s, i);
    if (s.charCodeAt(i) !== 61) throw new SipHeaderError(header, `auth-param "${name.slice(0, 40)}" without value`);
    i = skipWs(s, i + 1);
    let value: string;
    if (s.charCodeAt(i) === 34) {
      const q = readQuoted(s, i, header);
      value = q.value;
      i = q.end;
    } else {
      const vs = i;
      while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
      value = s.slice(vs, i);
      if (!value) throw new SipHeaderError(header, `empty value for "${name.slice(0, 40)}"`);
    }
    if (name === '__proto__') throw new SipHeaderError(header, 'reserved parameter name');
    if (Object.prototype.hasOwnProperty.call(params, name)) throw new SipHeaderError(header, `duplicate auth-param "${name.slice(0, 40)}"`);
    params[name] = value;
    i = skipWs(s, i);
    expectParam = false;
  }
  return { scheme, params };
}

/**
 * The lower-cased name of an auth-param. The names Digest (RFC 7616) and KS1 use come back as
 * literals: an internalized string, so storing it as a property key and looking it up again
 * (the duplicate check) needs no hashing and no string-table lookup, and no lower-cased copy
 * is made. Any other spelling (upper case included) is lower-cased.
 */
function authParamKey(name: string): string {
  switch (name) {
    case 'username':
      return 'username';
    case 'realm':
      return 'realm';
    case 'nonce':
      return 'nonce';
    case 'uri':
      return 'uri';
    case 'response':
      return 'response';
    case 'algorithm':
      return 'algorithm';
    case 'cnonce':
      return 'cnonce';
    case 'opaque':
      return 'opaque';
    case 'qop':
      return 'qop';
    case 'nc':
      return 'nc';
    case 'stale':
      return 'stale';
    case 'domain':
      return 'domain';
    case 'n1':
      return 'n1';
    case 'n2':
      return 'n2';
    case 'ts':
      return 'ts';
    default:
      return name.toLowerCase();
  }
}

/** Parameters written as tokens unless the caller says otherwise; everything else is a quoted string. */
export const DEFAULT_TOKEN_PARAMS: readonly string[] = ['algorithm', 'stale', 'nc'];

export function formatAuth(scheme: string, params: Record<string, string>, tokenParams: readonly string[] = DEFAULT_TOKEN_PARAMS): string {
  const parts: string[] = [];
  for (const k of Object.keys(params)) {
    const v = params[k]!;
    parts.push(k + '=' + (tokenParams.includes(k) && isToken(v) ? v : quote(v)));
  }
  return (scheme ? scheme + ' ' : '') + parts.join(', ');
}
