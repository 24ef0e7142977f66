/**
 * Bytes → SipRequest/SipResponse. Never throws: every failure is a typed error
 * saying which header and why, with the partly read message when the framing was
 * sound (so a server can still answer 400 to a request whose Via is readable).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { SipHeaderError, isToken } from './headers/lex.js';
import { headerKey } from './headers/names.js';
import { parseUri, isSipUri } from './headers/uri.js';
import { SipRequest, SipResponse, type SipHeader, type SipMessage } from './message.js';

export interface ParseLimits {
  /** Largest message accepted, bytes. */
  maxMessageSize: number;
  maxHeaders: number;
  /** Longest physical line, bytes. */
  maxLineLength: number;
}

export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({ maxMessageSize: 65535, maxHeaders: 256, maxLineLength: 8192 });

export interface ParseOptions {
  /**
   * true (default): the buffer is one UDP datagram — a body longer than Content-Length is
   * truncated, a shorter one is an error, and a missing Content-Length means "the rest".
   * false: the buffer is exactly one framed message from a stream (see findMessageLength).
   */
  datagram?: boolean;
  limits?: Partial<ParseLimits>;
}

export interface SipParseError {
  /** Human-readable cause; safe to put in a Warning header (no secrets: it names, never quotes values). */
  reason: string;
  /** The header at fault (canonical name), or 'start-line' / 'message'. */
  header: string;
  /** Status a server should answer a request with (400, 505, 513). */
  status: number;
  /** The message as far as it was read, when the start line and header lines split cleanly. */
  partial?: SipRequest | SipResponse;
  /** True when the error came from a bug in this parser rather than the input (should never happen). */
  internal?: boolean;
}

export type ParseResult = { ok: true; message: SipRequest | SipResponse } | { ok: false; error: SipParseError };

class Fail extends Error {
  constructor(readonly e: SipParseError) {
    super(e.reason);
  }
}

function fail(header: string, reason: string, status = 400, partial?: SipRequest | SipResponse): never {
  const e: SipParseError = { header, reason, status };
  if (partial) e.partial = partial;
  throw new Fail(e);
}

export function parseMessage(buf: Buffer, opts: ParseOptions = {}): ParseResult {
  try {
    return { ok: true, message: parseInner(buf, opts) };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.e };
    if (e instanceof SipHeaderError) return { ok: false, error: { header: e.header, reason: e.detail, status: 400 } };
    return { ok: false, error: { header: 'message', reason: 'unparseable message', status: 400, internal: true } };
  }
}

const HIGH = /[\x80-\xff]/;
/** White space String.prototype.trim removes that a latin1 header line can hold: HT, LF, VT, FF, CR, SP, NBSP. */
function isWs(c: number): boolean {
  return c === 32 || c === 9 || (c >= 10 && c <= 13) || c === 0xa0;
}
/** What a response copies from its request (RFC 3261 §8.2.6.2): kept even past maxHeaders. */
const RESPONSE_COPIES = new Set(['via', 'from', 'to', 'call-id', 'cseq']);
const RESPONSE_LINE = /^SIP\/([0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?$/i;
const VERSION = /^SIP\/[0-9]+\.[0-9]+$/i;

function parseInner(buf: Buffer, opts: ParseOptions): SipRequest | SipResponse {
  const limits = opts.limits ? { ...DEFAULT_LIMITS, ...opts.limits } : DEFAULT_LIMITS;
  const datagram = opts.datagram !== false;
  if (buf.length > limits.maxMessageSize) fail('message', 'message too large', 513);
  let i = 0;
  while (i < buf.length && (buf[i] === 13 || buf[i] === 10)) i++;
  if (i >= buf.length) fail('message', 'empty message');
  const end = headerSectionEnd(buf, i);
  if (!end) fail('message', 'no end of header section');
  const { hdrEnd, bodyStart } = end;
  const hs = buf.toString('latin1', i, hdrEnd);
  // a byte above 0x7f is a latin1 character above \x7f: the native check spares a regex over the whole section
  const section = buf.subarray(i, hdrEnd);
  const utf8 = !isAscii(section) && isUtf8(section);
  // The first fault in the header section. Splitting goes on past it, so that the message
  // as far as it can be read (its Via, From, To, Call-ID, CSeq) still allows a 400.
  let fault: { header: string; reason: string; status: number } | undefined;
  const note = (header: string, reason: string, status = 400): void => {
    if (!fault) fault = { header, reason, status };
  };

  // physical lines; offsets in hs equal byte offsets from i because latin1 is 1:1
  let pos = 0;
  let nl = hs.indexOf('\n');
  const firstEnd = nl < 0 ? hs.length : nl;
  let startLine = hs.slice(0, firstEnd);
  if (startLine.endsWith('\r')) startLine = startLine.slice(0, -1);
  if (firstEnd > limits.maxLineLength) note('start-line', 'line too long');
  const startLineRange: [number, number] = [i, i + (nl < 0 ? hs.length + 2 : firstEnd + 1)];
  // when the start line is the only line, its line end is the first half of the blank line
  if (nl < 0) startLineRange[1] = i + hs.length + (buf[i + hs.length] === 13 ? 2 : 1);

  const headers: SipHeader[] = [];
  let count = 0;
  // the header being read (its continuation lines join it): plain variables, no object per line
  let curName = '';
  let curValue = '';
  let curStart = 0;
  let curEnd = 0;
  let curKeep = false;
  let open = false;
  const flush = (): void => {
    if (!open) return;
    open = false;
    if (!curKeep) return;
    let value = curValue.trim();
    if (utf8 && HIGH.test(value)) value = Buffer.from(value, 'latin1').toString('utf8');
    headers.push({ name: curName, key: headerKey(curName), value, start: curStart, end: curEnd });
  };
  pos = nl < 0 ? hs.length : nl + 1;
  while (pos < hs.length) {
    nl = hs.indexOf('\n', pos);
    const lineEnd = nl < 0 ? hs.length : nl;
    const tooLong = lineEnd - pos > limits.maxLineLength;
    const textEnd = lineEnd > pos && hs.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
    // the last line's end is the first CRLF of the blank line
    const byteEnd = nl < 0 ? i + hs.length + (buf[i + hs.length] === 13 ? 2 : 1) : i + nl + 1;
    const c0 = hs.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) {
      if (!open) note('message', 'continuation line before the first header');
      else {
        if (tooLong) {
          note(curName, 'line too long');
          curKeep = false;
        }
        curValue += ' ' + hs.slice(pos, textEnd).trim();
        curEnd = byteEnd;
      }
    } else {
      flush();
      let colon = hs.indexOf(':', pos);
      if (colon >= textEnd) colon = -1;
      const name = colon < 0 ? '' : hs.slice(pos, colon).trimEnd();
      if (colon < 0) note('message', 'header line without colon');
      else if (!isToken(name)) note('message', 'bad header name');
      else {
        count++;
        if (tooLong) note(name, 'line too long');
        if (count > limits.maxHeaders) note('message', 'too many headers');
        // past the limit only what a 400 needs is kept; a line too long is not kept at all
        curKeep = !tooLong && (count <= limits.maxHeaders || RESPONSE_COPIES.has(headerKey(name)));
        curName = name;
        // cut after the white space that follows the colon, so that flush's trim has nothing to cut
        // and makes no second string (the end stays: white space before a folded line is kept)
        let vs = colon + 1;
        while (vs < textEnd && isWs(hs.charCodeAt(vs))) vs++;
        curValue = hs.slice(vs, textEnd);
        curStart = i + pos;
        curEnd = byteEnd;
        open = true;
      }
    }
    pos = lineEnd + 1;
  }
  flush();

  let msg: SipRequest | SipResponse;
  if (startLine.length >= 4 && startLine.slice(0, 4).toUpperCase() === 'SIP/') {
    if (fault) fail(fault.header, fault.reason, fault.status);
    const m = RESPONSE_LINE.exec(startLine);
    if (!m) fail('start-line', 'bad status line');
    if (m[1] !== '2.0') fail('start-line', 'unsupported SIP version', 505);
    const status = Number(m[2]);
    if (status < 100) fail('start-line', 'bad status code');
    let reason = m[3] ?? '';
    if (utf8 && HIGH.test(reason)) reason = Buffer.from(reason, 'latin1').toString('utf8');
    msg = new SipResponse(status, reason, headers);
  } else {
    const sp1 = startLine.indexOf(' ');
    const sp2 = sp1 < 0 ? -1 : startLine.indexOf(' ', sp1 + 1);
    const method = startLine.slice(0, sp1 < 0 ? startLine.length : sp1);
    // a request line that is not `Method SP Request-URI SP SIP-Version` (RFC 4475 lwsruri,
    // lwsstart, trws) still names its method, and its header lines may be sound: answer 400
    if (sp1 < 0 || sp2 < 0 || startLine.indexOf(' ', sp2 + 1) >= 0 || !isToken(method)) {
      const partial = isToken(method) ? new SipRequest(method, startLine.slice(sp1 + 1).trim(), headers) : undefined;
      fail('start-line', !isToken(method) ? 'bad method' : 'bad request line', 400, partial);
    }
    const uri = startLine.slice(sp1 + 1, sp2);
    const version = startLine.slice(sp2 + 1);
    msg = new SipRequest(method, uri, headers);
    if (!VERSION.test(version)) fail('start-line', 'bad SIP version', 400, msg);
    if (version.toUpperCase() !== 'SIP/2.0') fail('start-line', 'unsupported SIP version', 505, msg);
    if (fault) fail(fault.header, fault.reason, fault.status, msg);
    if (uri.length === 0 || /[\t<>"]/.test(uri)) fail('Request-URI', 'bad Request-URI', 400, msg);
    try {
      const u = parseUri(uri, 'Request-URI');
      if (isSipUri(u) && u.headers !== undefined) fail('Request-URI', 'headers are not allowed in a Request-URI', 400, msg);
    } catch (e) {
      if (e instanceof SipHeaderError) fail('Request-URI', e.detail, 400, msg);
      throw e;
    }
  }
  msg.source = buf;
  msg.startLineRange = startLineRange;

  // Content-Length: all copies must agree (RFC 4475 §3.1.2.x mcl01)
  let cl: number | undefined;
  for (const h of headers) {
    if (h.key !== 'content-length') continue;
    if (!/^[0-9]{1,10}$/.test(h.value)) fail('Content-Length', 'bad value', 400, msg);
    const n = Number(h.value);
    if (cl !== undefined && n !== cl) fail('Content-Length', 'conflicting values', 400, msg);
    cl = n;
  }
  const avail = buf.length - bodyStart;
  if (cl === undefined) cl = datagram ? avail : 0;
  if (cl > avail) fail('Content-Length', 'larger than the message', 400, msg);
  if (cl > 0) msg.body = buf.subarray(bodyStart, bodyStart + cl);

  validate(msg);
  return msg;
}

/** The headers every request/response must carry, checked once at parse time. */
function validate(msg: SipRequest | SipResponse): void {
  try {
    if (msg.vias().length === 0) throw new SipHeaderError('Via', 'missing');
    msg.from();
    msg.to();
    msg.callId();
    const cseq = msg.cseq();
    if (msg.isRequest()) {
      if (cseq.method !== msg.method) throw new SipHeaderError('CSeq', 'method does not match the request line');
      msg.maxForwards();
    }
  } catch (e) {
    if (e instanceof SipHeaderError) fail(e.header, e.detail, 400, msg);
    throw e;
  }
}

export type FrameResult =
  | { kind: 'incomplete' }
  /** A CRLF or CRLFCRLF keep-alive (RFC 5626 §3.5.1) of `length` bytes. */
  | { kind: 'keepalive'; length: number }
  | { kind: 'message'; length: number }
  | { kind: 'error'; reason: string };

const CL_RE = /(?:^|\n)[ \t]*(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i;

/**
 * Where the header section that starts at `from` ends: the first empty line, whether its
 * line ends are CRLF or bare LF (RFC 3261 §7.5 asks to accept LF). `hdrEnd` is the end of
 * the last header line's text, `bodyStart` the first byte after the empty line. The
 * parser and the stream framing both use it, so they cannot disagree on a message's length.
 */
export function headerSectionEnd(buf: Buffer, from = 0): { hdrEnd: number; bodyStart: number } | undefined {
  let nl = buf.indexOf(10, from);
  while (nl >= 0) {
    const next = buf[nl + 1];
    const bodyStart = next === 10 ? nl + 2 : next === 13 && buf[nl + 2] === 10 ? nl + 3 : -1;
    if (bodyStart >= 0) return { hdrEnd: nl > from && buf[nl - 1] === 13 ? nl - 1 : nl, bodyStart };
    nl = buf.indexOf(10, nl + 1);
  }
  return undefined;
}

/** Stream framing (RFC 3261 §18.3): where the first message in `buf` ends. */
export function findMessageLength(buf: Buffer, maxMessageSize = DEFAULT_LIMITS.maxMessageSize): FrameResult {
  let i = 0;
  while (i < buf.length && (buf[i] === 13 || buf[i] === 10)) i++;
  if (i > 0) return { kind: 'keepalive', length: i };
  const end = headerSectionEnd(buf);
  if (!end) {
    if (buf.length > maxMessageSize) return { kind: 'error', reason: 'header section too large' };
    return { kind: 'incomplete' };
  }
  const m = CL_RE.exec(buf.toString('latin1', 0, end.hdrEnd));
  let cl = 0;
  if (m) {
    const v = m[1]!.trim();
    if (!/^[0-9]{1,10}$/.test(v)) return { kind: 'error', reason: 'bad Content-Length' };
    cl = Number(v);
  }
  const total = end.bodyStart + cl;
  if (total > maxMessageSize) return { kind: 'error', reason: 'message too large' };
  if (buf.length < total) return { kind: 'incomplete' };
  return { kind: 'message', length: total };
}

export type { SipMessage };
