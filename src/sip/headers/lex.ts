/** Lexical helpers shared by the header parsers (RFC 3261 §25.1). */

/** Thrown by a header parser; carries the header name so a server can answer 400 naming it. */
export class SipHeaderError extends Error {
  constructor(readonly header: string, readonly detail: string) {
    super(`bad ${header}: ${detail}`);
    this.name = 'SipHeaderError';
  }
}

/** Parameters: lower-cased names, raw values (quotes kept), null for a name with no value. */
export type Params = Record<string, string | null>;

export function newParams(): Params {
  // A plain object: V8 keeps it fast, unlike Object.create(null). The one name that would
  // not be stored as data, __proto__, is refused by the parsers (checkParamName).
  return {} as Params;
}

export function checkParamName(name: string, header: string): void {
  if (name === '__proto__') throw new SipHeaderError(header, 'reserved parameter name');
}

const TOKEN = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') TOKEN[c.charCodeAt(0)] = 1;

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

export function skipWs(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

/** Reads a quoted-string starting at s[i] === '"'; returns the unescaped text and the index after the closing quote. */
export function readQuoted(s: string, i: number, header: string): { value: string; end: number } {
  let out = '';
  let j = i + 1;
  let run = j;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === 34) {
      out += s.slice(run, j);
      return { value: out, end: j + 1 };
    }
    if (c === 92) {
      if (j + 1 >= s.length) break;
      out += s.slice(run, j) + s[j + 1];
      j += 2;
      run = j;
      continue;
    }
    j++;
  }
  throw new SipHeaderError(header, 'unterminated quoted string');
}

export function quote(s: string): string {
  return '"' + s.replace(/["\\]/g, '\\$&') + '"';
}

export function unquote(v: string | null | undefined): string | undefined {
  if (v == null) return undefined;
  if (v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34) {
    return readQuoted(v, 0, 'parameter').value;
  }
  return v;
}

/**
 * Splits a header value on commas that are not inside a quoted string or <...>.
 * Items are trimmed; empty items are kept so callers can reject them.
 */
export function splitList(s: string): string[] {
  if (s.indexOf(',') < 0) return [s.trim()];
  const out: string[] = [];
  let start = 0;
  let angle = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) {
      // skip quoted string
      i++;
      while (i < s.length && s.charCodeAt(i) !== 34) {
        if (s.charCodeAt(i) === 92) i++;
        i++;
      }
    } else if (c === 60) angle = true;
    else if (c === 62) angle = false;
    else if (c === 44 && !angle) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out;
}

/**
 * The lower-cased name of a parameter. The common names come back as literals: a literal is
 * already an internalized string, so storing it as a property key needs no hashing and no
 * string-table lookup, and no lower-cased copy is made (per Via, From, To, Contact and URI).
 */
export function paramKey(name: string): string {
  switch (name) {
    case 'branch':
      return 'branch';
    case 'tag':
      return 'tag';
    case 'rport':
      return 'rport';
    case 'received':
      return 'received';
    case 'expires':
      return 'expires';
    case 'transport':
      return 'transport';
    case 'lr':
      return 'lr';
    case 'q':
      return 'q';
    case 'maddr':
      return 'maddr';
    case 'user':
      return 'user';
    case 'ob':
      return 'ob';
    default:
      return name.toLowerCase();
  }
}

function isParamNameEnd(c: number): boolean {
  // = ; , ? > SP HT
  return c === 61 || c === 59 || c === 44 || c === 63 || c === 62 || c === 32 || c === 9;
}

/**
 * Parses `*( SEMI name [ EQUAL value ] )` from s[i]. Values may be tokens, hosts
 * (IPv6 in brackets) or quoted strings (kept with their quotes).
 * Stops at the first character that cannot continue the list; returns that index.
 */
export function parseParams(s: string, i: number, header: string, into?: Params): { params: Params; end: number } {
  const params = into ?? newParams();
  for (;;) {
    const j = skipWs(s, i);
    if (j >= s.length || s.charCodeAt(j) !== 59) return { params, end: i };
    i = skipWs(s, j + 1);
    const ns = i;
    while (i < s.length && !isParamNameEnd(s.charCodeAt(i))) i++;
    const name = s.slice(ns, i);
    if (!isToken(name)) throw new SipHeaderError(header, name ? `bad parameter name "${name.slice(0, 40)}"` : 'empty parameter');
    const k = skipWs(s, i);
    if (k < s.length && s.charCodeAt(k) === 61) {
      i = skipWs(s, k + 1);
      let value: string;
      if (s.charCodeAt(i) === 34) {
        const q = readQuoted(s, i, header);
        value = s.slice(i, q.end);
        i = q.end;
      } else {
        const vs = i;
        let bracket = false;
        while (i < s.length) {
          const c = s.charCodeAt(i);
          if (c === 91) bracket = true;
          else if (c === 93) bracket = false;
          else if (!bracket && (c === 59 || c === 44 || c === 63 || c === 62 || c === 32 || c === 9)) break;
          i++;
        }
        value = s.slice(vs, i);
        if (value.length === 0) throw new SipHeaderError(header, `empty value for parameter "${name}"`);
      }
      const pk = paramKey(name);
      checkParamName(pk, header);
      params[pk] = value;
    } else {
      const pk = paramKey(name);
      checkParamName(pk, header);
      params[pk] = null;
    }
  }
}

export function formatParams(p: Params): string {
  let out = '';
  for (const k in p) {
    const v = p[k];
    out += v === null || v === undefined ? ';' + k : ';' + k + '=' + v;
  }
  return out;
}

/** Non-negative decimal integer with at most `maxDigits` significant digits; leading zeros allowed. */
export function parseUint(s: string, header: string, max: number): number {
  const t = s.trim();
  if (!/^[0-9]+$/.test(t)) throw new SipHeaderError(header, 'not a number');
  const n = t.length > 15 ? Infinity : Number(t);
  if (n > max) throw new SipHeaderError(header, 'value too large');
  return n;
}
