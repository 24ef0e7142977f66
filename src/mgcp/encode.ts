/**
 * MGCP messages → bytes, LF line ends (RFC 3435 §3.1 allows LF or CRLF).
 * Several messages are piggy-backed with `.` lines. Values come from our own
 * code or from parsed messages, so a line break or bad name here is a
 * programming error and throws. Commentary is sent only when given (the
 * transport fills in the standard text for its own responses).
 */
import { isValidTid, type MgcpMessage, type MgcpParam } from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9\-+/_.]{0,63}$/;
const NO_BREAK = /^[^\r\n]*$/;
const VERB = /^[A-Z][A-Z0-9]{3}$/;
const TOKEN = /^\S+$/;
const VERSION = /^\d{1,3}\.\d{1,3}$/;
const PACKAGE = /^[A-Za-z0-9\-_]{1,64}$/;

function paramLines(params: MgcpParam[]): string {
  let out = '';
  for (const p of params) {
    if (!NAME.test(p.name)) throw new RangeError('bad MGCP parameter name');
    if (!NO_BREAK.test(p.value)) throw new RangeError('line break in an MGCP parameter value');
    out += `${p.name}: ${p.value}\n`;
  }
  return out;
}

function headLine(m: MgcpMessage): string {
  if (!isValidTid(m.tid)) throw new RangeError('MGCP transaction id out of range');
  if (m.kind === 'command') {
    if (!VERB.test(m.verb) || !TOKEN.test(m.endpoint) || !VERSION.test(m.version)) throw new RangeError('bad MGCP command line');
    if (m.profile !== undefined && !TOKEN.test(m.profile)) throw new RangeError('bad MGCP profile');
    return `${m.verb} ${m.tid} ${m.endpoint} MGCP ${m.version}${m.profile ? ` ${m.profile}` : ''}\n`;
  }
  if (!Number.isInteger(m.code) || m.code < 0 || m.code > 999) throw new RangeError('MGCP response code out of range');
  const text = m.text;
  if (text !== undefined && !NO_BREAK.test(text)) throw new RangeError('line break in MGCP commentary');
  if (m.pkg !== undefined && !PACKAGE.test(m.pkg)) throw new RangeError('bad MGCP package name');
  return `${String(m.code).padStart(3, '0')} ${m.tid}${m.pkg ? ` /${m.pkg}` : ''}${text ? ` ${text}` : ''}\n`;
}

export function encodeMgcp(input: MgcpMessage | MgcpMessage[]): Buffer {
  const msgs = Array.isArray(input) ? input : [input];
  const parts: Buffer[] = [];
  msgs.forEach((m, i) => {
    if (i > 0) parts.push(Buffer.from('.\n'));
    let text = headLine(m) + paramLines(m.params);
    if (m.sdp && m.sdp.length > 0) {
      parts.push(Buffer.from(`${text}\n`));
      parts.push(m.sdp);
      if (i < msgs.length - 1 && m.sdp[m.sdp.length - 1] !== 10) parts.push(Buffer.from('\n'));
      text = '';
    } else parts.push(Buffer.from(text));
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
