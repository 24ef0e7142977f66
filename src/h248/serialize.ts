import { compactToken } from './tokens.js';
import type { Action, AuthHeader, Command, ErrorDescriptor, H248Message, Item, Transaction } from './types.js';

/**
 * Writes the text encoding in compact form (`!/1`, `T=`, `C=`, `MF=`…),
 * without optional white space; transactions are separated by a line break.
 * Long token names given in canonical case are written compact; other names
 * (packages, parameters, tokens as parsed) are written as they are.
 *
 * Values are written bare when they are SafeChar words, else as a
 * quotedString. A value that cannot be carried (a double quote or a control
 * character, which the ABNF does not allow in quotedString) is a RangeError:
 * such values come from configuration, never from a parsed message.
 */

const SAFE_WORD = /^[A-Za-z0-9+\-&!_/'?@^`~*$\\()%|.\u0080-\uffff]+$/;
const UNQUOTABLE = /["\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function quote(v: string): string {
  if (UNQUOTABLE.test(v)) throw new RangeError('value cannot be carried in an H.248 quotedString');
  return `"${v}"`;
}

function writeValue(v: string, quoted?: boolean): string {
  return !quoted && SAFE_WORD.test(v) ? v : quote(v);
}

/** Error text is free text from us: characters the ABNF forbids are replaced, not refused. */
export function errorText(text: string): string {
  return text.replace(/"/g, "'").replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, ' ');
}

export function writeError(e: ErrorDescriptor): string {
  return `ER=${e.code}{${e.text !== undefined ? quote(errorText(e.text)) : ''}}`;
}

export function writeItem(it: Item): string {
  if (!it.name && it.text !== undefined) return quote(it.text);
  let out = it.timestamp ? `${it.timestamp}:${compactToken(it.name)}` : compactToken(it.name);
  if (it.op) {
    if (it.list) {
      const vals = it.list.values.map((v) => writeValue(v));
      out += it.op + (it.list.kind === 'or' ? `{${vals.join(',')}}` : it.list.kind === 'range' ? `[${vals.join(':')}]` : `[${vals.join(',')}]`);
    } else if (it.value !== undefined) {
      // mIds in ServiceChangeAddress/MgcIdToTry are written as they are.
      const mid = it.token === 'ServiceChangeAddress' || it.token === 'MgcIdToTry' || it.name === 'ServiceChangeAddress' || it.name === 'MgcIdToTry';
      out += it.op + (mid ? it.value : writeValue(it.value, it.quoted));
    }
  }
  if (it.text !== undefined) out += `{${it.text.replace(/\}/g, '\\}')}}`;
  else if (it.children) out += `{${it.children.map(writeItem).join(',')}}`;
  return out;
}

function writeCommand(c: Command): string {
  const terms = c.terminations.length === 1 ? c.terminations[0]! : `[${c.terminations.join(',')}]`;
  let out = `${c.optional ? 'O-' : ''}${c.wildcard ? 'W-' : ''}${compactToken(c.name)}=${terms}`;
  if (c.descriptors.length) out += `{${c.descriptors.map(writeItem).join(',')}}`;
  return out;
}

function writeAction(a: Action, reply: boolean): string {
  const parts = [...(a.properties ?? []).map(writeItem), ...a.commands.map(writeCommand)];
  if (a.error) parts.push(writeError(a.error));
  if (reply && parts.length === 0) return `C=${a.context}`;
  return `C=${a.context}{${parts.join(',')}}`;
}

export function writeTransaction(t: Transaction): string {
  switch (t.type) {
    case 'request':
      return `T=${t.id}{${t.actions.map((a) => writeAction(a, false)).join(',')}}`;
    case 'reply': {
      const parts: string[] = [];
      if (t.immAck) parts.push('IA');
      if (t.error) parts.push(writeError(t.error));
      else parts.push(...t.actions.map((a) => writeAction(a, true)));
      return `P=${t.id}{${parts.join(',')}}`;
    }
    case 'pending':
      return `PN=${t.id}{}`;
    case 'ack':
      return `K{${t.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}}`;
  }
}

/** The `message` part (Annex B): header line and body, without an authentication header. */
export function serializeMessage(m: Pick<H248Message, 'version' | 'mid' | 'error' | 'transactions'>): string {
  const head = `!/${m.version} ${m.mid}\n`;
  if (m.error) return head + writeError(m.error) + '\n';
  return head + m.transactions.map(writeTransaction).join('\n') + '\n';
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** `AU=0x<SPI>:0x<Seq>:0x<AuthData>`, written before the message with one LF between. */
export function writeAuthHeader(a: AuthHeader): string {
  if (!Number.isInteger(a.spi) || a.spi < 0 || a.spi > 0xffffffff || !Number.isInteger(a.seq) || a.seq < 0 || a.seq > 0xffffffff) {
    throw new RangeError('SPI and sequence number are 32-bit');
  }
  if (a.data.length < 12 || a.data.length > 32) throw new RangeError('AuthData is 12..32 bytes');
  return `AU=0x${hex8(a.spi)}:0x${hex8(a.seq)}:0x${a.data.toString('hex')}`;
}
