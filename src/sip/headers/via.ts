/** Via (RFC 3261 §20.42, RFC 3581 rport). */
import { isIPv6 } from 'node:net';
import { SipHeaderError, formatParams, isToken, parseParams, skipWs, splitList, type Params } from './lex.js';
import { formatHost } from './uri.js';

export interface Via {
  /** `SIP/2.0` normally. */
  protocol: string;
  /** Upper-cased: UDP, TCP, TLS, SCTP, WS, ... */
  transport: string;
  /** Sent-by host without brackets. */
  host: string;
  port?: number;
  /** branch, received, rport (null when present without value), maddr, ttl, ... */
  params: Params;
}

function readWord(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 47 || c === 32 || c === 9 || c === 59 || c === 58) break;
    i++;
  }
  return i;
}

/**
 * The transport upper-cased; the usual ones as literals (no copy per Via, and an internalized
 * string compares by pointer). Upper-cased first and checked after, as before: a character
 * whose upper case is a token (ß → SS) passes as it did.
 */
function upperTransport(t: string): string {
  switch (t) {
    case 'UDP':
    case 'udp':
      return 'UDP';
    case 'TCP':
    case 'tcp':
      return 'TCP';
    case 'TLS':
    case 'tls':
      return 'TLS';
    default:
      return t.toUpperCase();
  }
}

export function parseVia(s: string): Via {
  const H = 'Via';
  let i = skipWs(s, 0);
  let e = readWord(s, i);
  const name = s.slice(i, e);
  i = skipWs(s, e);
  if (s.charCodeAt(i) !== 47) throw new SipHeaderError(H, 'bad sent-protocol');
  i = skipWs(s, i + 1);
  e = readWord(s, i);
  const version = s.slice(i, e);
  i = skipWs(s, e);
  if (s.charCodeAt(i) !== 47) throw new SipHeaderError(H, 'bad sent-protocol');
  i = skipWs(s, i + 1);
  e = readWord(s, i);
  const transport = upperTransport(s.slice(i, e));
  if (!isToken(name) || !isToken(version) || !isToken(transport)) throw new SipHeaderError(H, 'bad sent-protocol');
  const afterTransport = e;
  i = skipWs(s, e);
  if (i === afterTransport) throw new SipHeaderError(H, 'missing sent-by');
  let host: string;
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close < 0) throw new SipHeaderError(H, 'unterminated IPv6 reference');
    host = s.slice(i + 1, close);
    if (!/^[0-9A-Fa-f:.]+$/.test(host) || !isIPv6(host)) throw new SipHeaderError(H, 'bad IPv6 reference');
    i = close + 1;
  } else {
    const hs = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 58 || c === 59 || c === 32 || c === 9) break;
      i++;
    }
    host = s.slice(hs, i);
    if (!/^[A-Za-z0-9\-.]+$/.test(host)) throw new SipHeaderError(H, 'bad sent-by host');
  }
  let port: number | undefined;
  i = skipWs(s, i);
  if (s.charCodeAt(i) === 58) {
    i = skipWs(s, i + 1);
    const ps = i;
    let n = 0; // read as the digits go: no slice and no Number() per port
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) n = n * 10 + (c - 48);
    if (i === ps || i - ps > 5 || n > 65535) throw new SipHeaderError(H, 'bad sent-by port');
    port = n;
  }
  const { params, end } = parseParams(s, i, H);
  if (skipWs(s, end) !== s.length) throw new SipHeaderError(H, 'trailing characters');
  const via: Via = { protocol: name === 'SIP' && version === '2.0' ? 'SIP/2.0' : name.toUpperCase() + '/' + version, transport, host, params };
  if (port !== undefined) via.port = port;
  return via;
}

export function parseVias(values: readonly string[]): Via[] {
  const out: Via[] = [];
  for (const v of values) for (const item of splitList(v)) {
    if (item.length === 0) throw new SipHeaderError('Via', 'empty list element');
    out.push(parseVia(item));
  }
  return out;
}

export function formatVia(v: Via): string {
  return v.protocol + '/' + v.transport + ' ' + formatHost(v.host) + (v.port !== undefined ? ':' + v.port : '') + formatParams(v.params);
}
