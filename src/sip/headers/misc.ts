/** Small structured headers: CSeq, token lists, Content-Type, numbers. */
import { SipHeaderError, isToken, parseParams, parseUint, skipWs, splitList, type Params } from './lex.js';

export interface CSeq {
  seq: number;
  method: string;
}

/** RFC 3261 §8.1.1.5: the sequence number is a 32-bit unsigned integer below 2^31. */
export function parseCSeq(s: string): CSeq {
  const t = s.trim();
  const m = /^([0-9]+)[ \t]+([^ \t]+)$/.exec(t);
  if (!m) throw new SipHeaderError('CSeq', 'expected "<number> <method>"');
  const seq = parseUint(m[1]!, 'CSeq', 2 ** 31 - 1);
  if (!isToken(m[2]!)) throw new SipHeaderError('CSeq', 'bad method');
  return { seq, method: m[2]! };
}

export function formatCSeq(c: CSeq): string {
  return c.seq + ' ' + c.method;
}

/** Supported, Require, Proxy-Require, Unsupported, Allow, ...: comma-separated tokens. */
export function parseTokenList(values: readonly string[], header: string): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v.trim() === '') continue;
    for (const item of splitList(v)) {
      if (!isToken(item)) throw new SipHeaderError(header, 'bad token in list');
      out.push(item);
    }
  }
  return out;
}

export interface MediaType {
  type: string;
  subtype: string;
  params: Params;
}

export function parseMediaType(s: string, header = 'Content-Type'): MediaType {
  const m = /^[ \t]*([^ \t/;]+)[ \t]*\/[ \t]*([^ \t;]+)/.exec(s);
  if (!m || !isToken(m[1]!) || !isToken(m[2]!)) throw new SipHeaderError(header, 'bad media type');
  const { params, end } = parseParams(s, m[0].length, header);
  if (skipWs(s, end) !== s.length) throw new SipHeaderError(header, 'trailing characters');
  return { type: m[1]!.toLowerCase(), subtype: m[2]!.toLowerCase(), params };
}

/** delta-seconds; RFC 3261 §20.19: values above 2^32-1 are taken as 2^32-1. */
export function parseDeltaSeconds(s: string, header: string): number {
  const t = s.trim();
  if (!/^[0-9]+$/.test(t)) throw new SipHeaderError(header, 'not a number');
  const n = t.length > 11 ? Infinity : Number(t);
  return Math.min(n, 4294967295);
}

export { parseUint };
