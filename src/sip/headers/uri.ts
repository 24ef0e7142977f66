/** SIP/SIPS URI (RFC 3261 §19.1) and other absolute URIs kept opaque. */
import { isIPv6 } from 'node:net';
import { SipHeaderError, checkParamName, formatParams, newParams, paramKey, type Params } from './lex.js';

export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  /** Host without brackets: an IPv6 reference is stored as `2001:db8::1`. */
  host: string;
  port?: number;
  params: Params;
  /** The `?h=v&...` part without the `?`, as written. */
  headers?: string;
}

export interface OtherUri {
  scheme: string;
  /** Everything after `scheme:`. */
  opaque: string;
}

export type Uri = SipUri | OtherUri;

export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

export function parseUri(s: string, header = 'URI'): Uri {
  const colon = s.indexOf(':');
  if (colon <= 0) throw new SipHeaderError(header, 'URI without scheme');
  const scheme = s.slice(0, colon);
  if (!SCHEME_RE.test(scheme)) throw new SipHeaderError(header, 'bad URI scheme');
  const lower = scheme.toLowerCase();
  if (lower !== 'sip' && lower !== 'sips') {
    const opaque = s.slice(colon + 1);
    if (opaque.length === 0 || /[\s<>"]/.test(opaque)) throw new SipHeaderError(header, 'bad URI');
    return { scheme: lower, opaque };
  }
  return parseSipUri(s, colon + 1, lower as 'sip' | 'sips', header);
}

function parseSipUri(s: string, i: number, scheme: 'sip' | 'sips', header: string): SipUri {
  if (/[\s<>"]/.test(s)) throw new SipHeaderError(header, 'bad character in URI');
  const uri: SipUri = { scheme, host: '', params: newParams() };
  const at = s.indexOf('@', i);
  if (at >= 0) {
    const userinfo = s.slice(i, at);
    const pc = userinfo.indexOf(':');
    if (pc >= 0) {
      uri.user = userinfo.slice(0, pc);
      uri.password = userinfo.slice(pc + 1);
    } else uri.user = userinfo;
    if (uri.user.length === 0) throw new SipHeaderError(header, 'empty user part');
    i = at + 1;
  }
  // hostport
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close < 0) throw new SipHeaderError(header, 'unterminated IPv6 reference');
    uri.host = s.slice(i + 1, close);
    // RFC 3261 IPv6reference: a real IPv6 address (hex digits and colons alone let `[::1::2]` through)
    if (!/^[0-9A-Fa-f:.]+$/.test(uri.host) || !isIPv6(uri.host)) throw new SipHeaderError(header, 'bad IPv6 reference');
    i = close + 1;
  } else {
    const hs = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 58 || c === 59 || c === 63) break;
      i++;
    }
    uri.host = s.slice(hs, i);
    if (!/^[A-Za-z0-9\-.]+$/.test(uri.host)) throw new SipHeaderError(header, 'bad host');
  }
  if (s.charCodeAt(i) === 58) {
    const ps = ++i;
    let n = 0; // read as the digits go: no slice and no Number() per port
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) n = n * 10 + (c - 48);
    if (i === ps || i - ps > 5 || n > 65535) throw new SipHeaderError(header, 'bad port');
    uri.port = n;
  }
  while (s.charCodeAt(i) === 59) {
    const ns = ++i;
    while (i < s.length && s.charCodeAt(i) !== 59 && s.charCodeAt(i) !== 63) i++;
    const part = s.slice(ns, i);
    const eq = part.indexOf('=');
    const name = paramKey(eq < 0 ? part : part.slice(0, eq));
    if (name.length === 0) throw new SipHeaderError(header, 'empty URI parameter');
    checkParamName(name, header);
    uri.params[name] = eq < 0 ? null : part.slice(eq + 1);
  }
  if (s.charCodeAt(i) === 63) {
    uri.headers = s.slice(i + 1);
    i = s.length;
  }
  if (i !== s.length) throw new SipHeaderError(header, 'trailing characters in URI');
  return uri;
}

export function formatHost(host: string): string {
  return host.indexOf(':') >= 0 ? '[' + host + ']' : host;
}

export function formatUri(u: Uri): string {
  if (!isSipUri(u)) return u.scheme + ':' + u.opaque;
  let out = u.scheme + ':';
  if (u.user !== undefined) out += u.user + (u.password !== undefined ? ':' + u.password : '') + '@';
  out += formatHost(u.host);
  if (u.port !== undefined) out += ':' + u.port;
  out += formatParams(u.params);
  if (u.headers !== undefined) out += '?' + u.headers;
  return out;
}

/** Decodes %HH escapes (a user part or parameter as the application means it). */
export function unescapeUri(s: string): string {
  if (s.indexOf('%') < 0) return s;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}
