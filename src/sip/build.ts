/** Building requests and responses (RFC 3261 §8.1.1, §8.2.6). */
import { randomWireToken } from '../crypto/random-pool.js';
import { headerList, newHeader, SipRequest, SipResponse, type SipHeader } from './message.js';
import { formatUri } from './headers/uri.js';
import { DEFAULT_MAX_FORWARDS } from './proxy/hops.js';

export const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 413: 'Request Entity Too Large',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 421: 'Extension Required',
  423: 'Interval Too Brief', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected', 483: 'Too Many Hops', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here',
  494: 'Security Agreement Required', 500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

const COPIED = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

/**
 * A response to `req`: Via, From, To, Call-ID and CSeq copied as written (so it works
 * even for a request whose other headers are malformed). `toTag` is added to To when
 * it has none and the status is above 100.
 */
export function createResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  opts: { toTag?: string; headers?: ReadonlyArray<readonly [string, string]>; body?: Buffer } = {},
): SipResponse {
  const hs: SipHeader[] = [];
  for (const h of req.headers) {
    if (!COPIED.has(h.key)) continue;
    let value = h.value;
    if (h.key === 'to' && status > 100 && opts.toTag && !/;\s*tag\s*=/i.test(value)) value += ';tag=' + opts.toTag;
    hs.push({ name: h.name, key: h.key, value, start: -1, end: -1 });
  }
  if (opts.headers) for (const [n, v] of opts.headers) hs.push(newHeader(n, v));
  return new SipResponse(status, reason ?? REASONS[status] ?? 'Unknown', hs, opts.body);
}

export function createRequest(
  method: string,
  uri: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body?: Buffer,
): SipRequest {
  return new SipRequest(method, uri, headerList(headers), body);
}

/** A random tag or Call-ID part: 64 bits, base64url. */
export function randomToken(bytes = 8): string {
  return randomWireToken(bytes);
}

function copyHeaders(from: SipRequest, keys: readonly string[]): SipHeader[] {
  const out: SipHeader[] = [];
  for (const h of from.headers) if (keys.includes(h.key)) out.push({ name: h.name, key: h.key, value: h.value, start: -1, end: -1 });
  return out;
}

/** The ACK a client INVITE transaction sends for a 3xx-6xx (RFC 3261 §17.1.1.3). */
export function createAckForFailure(invite: SipRequest, res: SipResponse): SipRequest {
  const hs = copyHeaders(invite, ['call-id', 'from', 'route']);
  const topVia = invite.headers.find((h) => h.key === 'via');
  if (topVia) hs.unshift({ name: topVia.name, key: 'via', value: invite.list('via')[0]!, start: -1, end: -1 });
  hs.push(newHeader('To', res.get('to') ?? invite.get('to') ?? ''));
  hs.push(newHeader('CSeq', invite.cseq().seq + ' ACK'));
  hs.push(newHeader('Max-Forwards', String(DEFAULT_MAX_FORWARDS)));
  return new SipRequest('ACK', invite.uri, hs);
}

/**
 * The ACK a UAC core sends for a 2xx (RFC 3261 §13.2.2.4): to the Contact, along the
 * reversed Record-Route, with no Via (the stack adds one with a new branch).
 */
export function createAckFor2xx(invite: SipRequest, res: SipResponse): SipRequest {
  const hs = copyHeaders(invite, ['call-id', 'from']);
  hs.push(newHeader('To', res.get('to') ?? ''));
  hs.push(newHeader('CSeq', invite.cseq().seq + ' ACK'));
  hs.push(newHeader('Max-Forwards', String(DEFAULT_MAX_FORWARDS)));
  const rr = res.list('record-route').reverse();
  for (const r of rr) hs.push(newHeader('Route', r));
  const contact = res.contacts()[0];
  const target = contact && !('star' in contact) ? formatUri(contact.uri) : invite.uri;
  return new SipRequest('ACK', target, hs);
}

/** CANCEL for an INVITE this side sent (RFC 3261 §9.1): same top Via, so send it with `{ noVia: true }`. */
export function createCancel(invite: SipRequest): SipRequest {
  const hs: SipHeader[] = [];
  const top = invite.list('via')[0];
  if (top) hs.push(newHeader('Via', top));
  for (const h of copyHeaders(invite, ['to', 'from', 'call-id', 'route'])) hs.push(h);
  hs.push(newHeader('CSeq', invite.cseq().seq + ' CANCEL'));
  hs.push(newHeader('Max-Forwards', String(DEFAULT_MAX_FORWARDS)));
  return new SipRequest('CANCEL', invite.uri, hs);
}
