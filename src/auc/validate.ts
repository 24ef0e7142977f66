// Shared by the API schemas, the CLI and the bulk import, so every entry
// point accepts exactly the same identities and keys.
import { isIPv4, isIPv6 } from 'node:net';

export const IDENTITY_MAX = 255;
/** The coarse filter of the JSON schemas; identityProblem applies the whole rule. */
export const IDENTITY_PATTERN = '^[^\\u0000-\\u001f\\u007f]+$';
export const KEY_HEX_PATTERN = '^[0-9a-fA-F]{64}$';
export const SIP_PASSWORD_MAX = 128;

const identityRe = new RegExp(IDENTITY_PATTERN);
const keyRe = new RegExp(KEY_HEX_PATTERN);

export type IdentityKind = 'terminal' | 'proxy';

/**
 * The rule, as stated to whoever is refused (docs/auc.md, "Identities"). A
 * terminal registers with its IDc as a SIP address, so it must be one, and
 * in the one spelling that RFC 3261 §19.1.4 comparison cannot tell from
 * another: escapes in upper case and only where needed, Unicode in NFC,
 * host in lower case. Two spellings of one address would be two terminals.
 */
export const TERMINAL_IDENTITY_RULE =
  "a terminal identity is a SIP address user@host (RFC 3261): the user part of letters, digits, - _ . ! ~ * ' ( ) & = + $ , ; ? / " +
  'and %HH escapes (upper-case hex, only for other characters; non-ASCII as the UTF-8 of its NFC form), the host a domain name or IP address in lower case';
export const PROXY_IDENTITY_RULE = `a proxy identity is a host name in lower case (e.g. sbc1.lab.example) or, like a terminal's, a SIP address user@host`;

/** Characters RFC 3261 allows unescaped in a user part (unreserved and user-unreserved). */
const USER_LITERAL = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TOP_LABEL = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function identityProblem(id: string, kind: IdentityKind = 'terminal'): string | undefined {
  if (id.length === 0) return 'identity is empty';
  if (id.length > IDENTITY_MAX) return `identity is longer than ${IDENTITY_MAX} characters`;
  if (!identityRe.test(id)) return 'identity contains control characters';
  const rule = kind === 'terminal' ? TERMINAL_IDENTITY_RULE : PROXY_IDENTITY_RULE;
  const r = canonicalIdentity(id, kind);
  if ('problem' in r) return `identity ${JSON.stringify(id)} is refused: ${r.problem}; ${rule}`;
  if (r.canonical !== id) return `identity ${JSON.stringify(id)} is refused: write it as ${JSON.stringify(r.canonical)}; ${rule}`;
  if (r.canonical.length > IDENTITY_MAX) return `identity is longer than ${IDENTITY_MAX} characters`;
  return undefined;
}

/** The one accepted spelling of an identity, or why there is none. */
export function canonicalIdentity(id: string, kind: IdentityKind = 'terminal'): { canonical: string } | { problem: string } {
  const at = id.indexOf('@');
  if (at < 0) {
    if (kind === 'terminal') return { problem: 'it is not of the form user@host' };
    const host = canonicalHost(id);
    return 'problem' in host ? host : { canonical: host.host };
  }
  if (id.indexOf('@', at + 1) >= 0) return { problem: 'it has more than one @ (an @ in the user part is written %40)' };
  const user = canonicalUser(id.slice(0, at));
  if ('problem' in user) return user;
  const host = canonicalHost(id.slice(at + 1));
  if ('problem' in host) return host;
  return { canonical: `${user.user}@${host.host}` };
}

function canonicalUser(user: string): { user: string } | { problem: string } {
  if (user.length === 0) return { problem: 'the user part is empty' };
  const bytes: number[] = [];
  let raw = '';
  const flush = () => {
    // raw non-ASCII text: its UTF-8, after NFC below
    if (raw) bytes.push(...Buffer.from(raw, 'utf8'));
    raw = '';
  };
  for (let i = 0; i < user.length; i++) {
    const c = user[i]!;
    if (c === '%') {
      const hex = user.slice(i + 1, i + 3);
      if (!HEX2.test(hex)) return { problem: `"%" must start an escape of two hex digits (a "%" itself is written %25)` };
      flush();
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c.charCodeAt(0) < 0x80) {
      flush();
      bytes.push(c.charCodeAt(0));
    } else raw += c;
  }
  flush();
  if (bytes.some((b) => b < 0x20 || b === 0x7f)) return { problem: 'the user part holds an escaped control character' };
  let octets = Buffer.from(bytes);
  try {
    // Unicode text in its composed form, so that "züri" typed either way is one terminal
    const text = new TextDecoder('utf-8', { fatal: true }).decode(octets);
    octets = Buffer.from(text.normalize('NFC'), 'utf8');
  } catch {
    /* not UTF-8: the octets stand as they are */
  }
  let out = '';
  for (const b of octets) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && USER_LITERAL.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return { user: out };
}

function canonicalHost(host: string): { host: string } | { problem: string } {
  if (host.length === 0) return { problem: 'the host is empty' };
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1);
    if (!isIPv6(inner)) return { problem: `the host ${host} is not an IPv6 address` };
    // the WHATWG URL parser writes an IPv6 address in its one compressed, lower-case form (RFC 5952)
    return { host: new URL(`http://${host}/`).hostname };
  }
  if (isIPv6(host)) return { problem: `an IPv6 host is written in brackets, [${host}]` };
  if (/^[0-9.]+$/.test(host)) {
    if (!isIPv4(host)) return { problem: `the host ${host} is not an IPv4 address` };
    return { host: host.split('.').map((n) => String(Number(n))).join('.') };
  }
  const lower = host.toLowerCase();
  const labels = lower.split('.');
  if (lower.length > 253 || labels.some((l) => !LABEL.test(l)) || !TOP_LABEL.test(labels[labels.length - 1]!)) {
    return { problem: `the host ${JSON.stringify(host)} is not a domain name (labels of letters, digits and inner hyphens, separated by dots, the last starting with a letter)` };
  }
  return { host: lower };
}

export function keyProblem(hex: string): string | undefined {
  return keyRe.test(hex) ? undefined : 'key must be 64 hexadecimal digits (32 bytes)';
}

export function sipPasswordProblem(p: string): string | undefined {
  if (p.length === 0 || p.length > SIP_PASSWORD_MAX) return `SIP password must be 1 to ${SIP_PASSWORD_MAX} characters`;
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'SIP password contains control characters';
  return undefined;
}
