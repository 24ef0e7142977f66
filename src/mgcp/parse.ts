/**
 * Bytes → MGCP messages. Lines end in LF or CRLF; a line holding only `.`
 * separates piggy-backed messages (RFC 3435 §3.5.5); an empty line starts a
 * session description that runs to the next `.` line or the end and is kept
 * as bytes. Anything malformed or over a limit is an error result, never a
 * throw; when the command line itself parsed, the error says which command
 * it was so the receiver can answer 510.
 */
import { parseEndpointName } from './endpoint-name.js';
import { isValidTid, type MgcpCommand, type MgcpMessage, type MgcpParam, type MgcpResponse } from './types.js';

export interface ParseLimits {
  maxBytes: number;
  /** Lines in the whole datagram, session descriptions included. */
  maxLines: number;
  maxLineLength: number;
  maxMessages: number;
}

/** RFC 3435 gateways must take 4000-byte datagrams; we allow twice that. */
export const DEFAULT_LIMITS: ParseLimits = { maxBytes: 8192, maxLines: 256, maxLineLength: 2048, maxMessages: 16 };

export type ParseResult =
  | { ok: true; messages: MgcpMessage[] }
  | { ok: false; error: string; command?: { verb: string; tid: number } };

const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const RESPONSE_LINE = /^(\d{3})[ \t]+(\d{1,9})(?:[ \t]+(.*))?$/;
const COMMAND_HEAD = /^([A-Za-z][A-Za-z0-9]{3})[ \t]+(\d{1,9})(?:[ \t]+(.*))?$/;
const COMMAND_REST = /^(\S+)[ \t]+MGCP[ \t]+(\d{1,3}\.\d{1,3})(?:[ \t]+(\S+))?$/i;
const PARAM_LINE = /^([A-Za-z0-9][A-Za-z0-9\-+/_.]{0,63})[ \t]*:[ \t]*(.*)$/;
const TRAIL_WS = /[ \t]+$/;

class Reader {
  pos = 0;
  lines = 0;
  constructor(readonly buf: Buffer, readonly limits: ParseLimits) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The next line without its terminator; a string error when over a limit. */
  line(): { text: string; start: number } | string {
    const { buf } = this;
    if (++this.lines > this.limits.maxLines) return 'too many lines';
    const start = this.pos;
    const nl = buf.indexOf(10, start);
    const end = nl < 0 ? buf.length : nl;
    this.pos = nl < 0 ? buf.length : nl + 1;
    const stop = end > start && buf[end - 1] === 13 ? end - 1 : end;
    if (stop - start > this.limits.maxLineLength) return 'line too long';
    const text = buf.toString('utf8', start, stop);
    if (CONTROL.test(text)) return 'control character in line';
    return { text, start };
  }

  /** Position of the next `.` separator line at or after pos (or the end), and where the following message starts. */
  findSeparator(): { end: number; next: number } | string {
    const { buf } = this;
    let p = this.pos;
    while (p < buf.length) {
      if (++this.lines > this.limits.maxLines) return 'too many lines';
      const nl = buf.indexOf(10, p);
      const end = nl < 0 ? buf.length : nl;
      const len = end - p;
      if (buf[p] === 46 && (len === 1 || (len === 2 && buf[p + 1] === 13))) return { end: p, next: nl < 0 ? buf.length : nl + 1 };
      p = nl < 0 ? buf.length : nl + 1;
    }
    return { end: buf.length, next: buf.length };
  }
}

type One = { ok: true; message: MgcpMessage; more: boolean } | { ok: false; error: string; command?: { verb: string; tid: number } };

function parseOne(r: Reader): One {
  const head = r.line();
  if (typeof head === 'string') return { ok: false, error: head };
  const line = head.text.replace(TRAIL_WS, '');
  let msg: MgcpCommand | MgcpResponse;
  let cmdInfo: { verb: string; tid: number } | undefined;
  const rm = RESPONSE_LINE.exec(line);
  if (rm) {
    const tid = Number(rm[2]);
    if (!isValidTid(tid)) return { ok: false, error: 'bad transaction id' };
    const res: MgcpResponse = { kind: 'response', code: Number(rm[1]), tid, params: [] };
    let rest: string | undefined = rm[3]?.trim();
    if (rest?.startsWith('/')) {
      const sp = rest.search(/[ \t]/);
      res.pkg = sp < 0 ? rest.slice(1) : rest.slice(1, sp);
      if (!/^[A-Za-z0-9\-_]{1,64}$/.test(res.pkg)) return { ok: false, error: 'bad package name' };
      rest = sp < 0 ? undefined : rest.slice(sp).trim();
    }
    if (rest) res.text = rest;
    msg = res;
  } else {
    const cm = COMMAND_HEAD.exec(line);
    if (!cm) return { ok: false, error: 'bad command or response line' };
    const tid = Number(cm[2]);
    if (!isValidTid(tid)) return { ok: false, error: 'bad transaction id' };
    const verb = cm[1]!.toUpperCase();
    cmdInfo = { verb, tid };
    const rest = COMMAND_REST.exec(cm[3] ?? '');
    if (!rest) return { ok: false, error: 'bad command line', command: cmdInfo };
    if (!parseEndpointName(rest[1]!)) return { ok: false, error: 'bad endpoint name', command: cmdInfo };
    const cmd: MgcpCommand = { kind: 'command', verb, tid, endpoint: rest[1]!, version: rest[2]!, params: [] };
    if (rest[3] !== undefined) cmd.profile = rest[3];
    msg = cmd;
  }
  const fail = (error: string): One => (cmdInfo ? { ok: false, error, command: cmdInfo } : { ok: false, error });
  const params: MgcpParam[] = msg.params;
  while (!r.done) {
    const l = r.line();
    if (typeof l === 'string') return fail(l);
    const text = l.text;
    if (text === '.') return { ok: true, message: msg, more: true };
    if (text === '') {
      const bodyStart = r.pos;
      const sep = r.findSeparator();
      if (typeof sep === 'string') return fail(sep);
      if (sep.end > bodyStart) msg.sdp = r.buf.subarray(bodyStart, sep.end);
      r.pos = sep.next;
      return { ok: true, message: msg, more: sep.next < r.buf.length };
    }
    const pm = PARAM_LINE.exec(text);
    if (!pm) return fail('bad parameter line');
    const name = pm[1]!;
    params.push({ name, key: name.toLowerCase(), value: pm[2]!.replace(TRAIL_WS, '') });
  }
  return { ok: true, message: msg, more: false };
}

export function parseMgcp(buf: Buffer, limits: ParseLimits = DEFAULT_LIMITS): ParseResult {
  if (!Buffer.isBuffer(buf) || buf.length === 0) return { ok: false, error: 'empty message' };
  if (buf.length > limits.maxBytes) return { ok: false, error: 'message too large' };
  const r = new Reader(buf, limits);
  const messages: MgcpMessage[] = [];
  for (;;) {
    if (messages.length >= limits.maxMessages) return { ok: false, error: 'too many piggy-backed messages' };
    const one = parseOne(r);
    if (!one.ok) return one;
    messages.push(one.message);
    if (!one.more || r.done) break;
  }
  return { ok: true, messages };
}
