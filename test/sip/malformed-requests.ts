/**
 * Requests that must fail to parse and be answered 400 to their source: RFC
 * 4475 §3.1.2.8–10 (lwsruri, lwsstart, trws), two limits (header count, line
 * length) and junk IPv6 hosts. Shared by test/sip/answers-to-source.test.ts
 * (the stack) and test/e2e/reflection.test.ts (keyswitch up); each passes its
 * own request builder.
 */
export type RequestBuilder = (o: { line?: string; via: string; extra?: string[] }) => string;

export function malformedRequests(request: RequestBuilder, o: { user: string; rfcPrefix?: string }): Array<[string, (via: string) => string]> {
  const rfc = o.rfcPrefix ?? '';
  return [
    [`${rfc}lwsruri`, (via) => request({ line: 'INVITE sip:user@example.com; lr SIP/2.0', via })],
    [`${rfc}lwsstart`, (via) => request({ line: 'INVITE  sip:user@example.com  SIP/2.0', via })],
    [`${rfc}trws`, (via) => request({ line: 'INVITE sip:user@example.com SIP/2.0  ', via })],
    ['300 headers', (via) => request({ via, extra: Array.from({ length: 300 }, (_, i) => `X-Filler-${i}: ${i}`) })],
    ['a 9,000-character header line', (via) => request({ via, extra: [`Subject: ${'x'.repeat(9000)}`] })],
    ['a junk IPv6 host', (via) => request({ line: `OPTIONS sip:${o.user}@[::1::2] SIP/2.0`, via })],
    ['an empty IPv6 reference', (via) => request({ line: `OPTIONS sip:${o.user}@[:] SIP/2.0`, via })],
    ['an IPv6 reference with a non-hex group', (via) => request({ line: `OPTIONS sip:${o.user}@[::1:zz] SIP/2.0`, via })],
  ];
}
