/** Header names: compact forms (RFC 3261 §7.3.3 and the IANA SIP header registry) and canonical spellings. */

const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Lower-cased full header name used for lookup; compact forms map to their long name. */
export function headerKey(name: string): string {
  const k = name.toLowerCase();
  if (k.length === 1) return COMPACT[k] ?? k;
  return k;
}

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'rack': 'RAck',
  'rseq': 'RSeq',
};

/** Spelling used when we create a header from a name the caller gave in any case. */
export function canonicalName(name: string): string {
  const k = headerKey(name);
  const c = CANONICAL[k];
  if (c) return c;
  return k.replace(/(^|-)([a-z])/g, (_m, d: string, ch: string) => d + ch.toUpperCase());
}
