/** name-addr / addr-spec headers: From, To, Contact, Route, Record-Route, Reply-To (RFC 3261 §20). */
import { SipHeaderError, formatParams, isTokenChar, newParams, parseParams, quote, readQuoted, skipWs, splitList, type Params } from './lex.js';
import { formatUri, parseUri, type Uri } from './uri.js';

export interface NameAddr {
  displayName?: string;
  uri: Uri;
  /** Header parameters (tag, expires, q, ...), not URI parameters. */
  params: Params;
}

export interface ContactStar {
  star: true;
  params: Params;
}

export function parseNameAddr(s: string, header: string): NameAddr {
  let i = skipWs(s, 0);
  let displayName: string | undefined;
  const lt = s.indexOf('<');
  if (s.charCodeAt(i) === 34) {
    const q = readQuoted(s, i, header);
    displayName = q.value;
    i = skipWs(s, q.end);
    if (s.charCodeAt(i) !== 60) throw new SipHeaderError(header, 'quoted display name without <URI>');
  } else if (lt >= 0) {
    // display name made of tokens separated by LWS
    const dn = s.slice(i, lt).trim();
    if (dn.length > 0) {
      for (let k = 0; k < dn.length; k++) {
        const c = dn.charCodeAt(k);
        if (c !== 32 && c !== 9 && !isTokenChar(c)) throw new SipHeaderError(header, 'bad character in display name');
      }
      displayName = dn;
    }
    i = lt;
  }
  let uriText: string;
  if (s.charCodeAt(i) === 60) {
    const gt = s.indexOf('>', i);
    if (gt < 0) throw new SipHeaderError(header, 'missing >');
    uriText = s.slice(i + 1, gt);
    if (uriText !== uriText.trim()) throw new SipHeaderError(header, 'white space inside <>');
    i = gt + 1;
  } else {
    // addr-spec: the URI ends at the first ';' (its parameters would be header parameters) or white space
    const st = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 59 || c === 32 || c === 9) break;
      if (c === 63 || c === 44) throw new SipHeaderError(header, 'URI with ? or , must be enclosed in <>');
      i++;
    }
    uriText = s.slice(st, i);
  }
  const uri = parseUri(uriText, header);
  const { params, end } = parseParams(s, i, header);
  if (skipWs(s, end) !== s.length) throw new SipHeaderError(header, 'trailing characters');
  const out: NameAddr = { uri, params };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

export function formatNameAddr(n: NameAddr): string {
  let out = '';
  if (n.displayName !== undefined && n.displayName !== '') out = quote(n.displayName) + ' ';
  return out + '<' + formatUri(n.uri) + '>' + formatParams(n.params);
}

export function parseNameAddrList(values: readonly string[], header: string): NameAddr[] {
  const out: NameAddr[] = [];
  for (const v of values) for (const item of splitList(v)) {
    if (item.length === 0) throw new SipHeaderError(header, 'empty list element');
    out.push(parseNameAddr(item, header));
  }
  return out;
}

/** Contact: `*` or a list of name-addr with expires/q. */
export function parseContacts(values: readonly string[]): Array<NameAddr | ContactStar> {
  const out: Array<NameAddr | ContactStar> = [];
  for (const v of values) for (const item of splitList(v)) {
    if (item.length === 0) throw new SipHeaderError('Contact', 'empty list element');
    if (item.charCodeAt(0) === 42) {
      const { params, end } = parseParams(item, 1, 'Contact');
      if (skipWs(item, end) !== item.length) throw new SipHeaderError('Contact', 'bad *');
      out.push({ star: true, params });
    } else out.push(parseNameAddr(item, 'Contact'));
  }
  if (out.length > 1 && out.some((c) => 'star' in c)) throw new SipHeaderError('Contact', '* mixed with other contacts');
  return out;
}

export function isStar(c: NameAddr | ContactStar): c is ContactStar {
  return 'star' in c;
}

export { newParams };
