/**
 * The SBC signs every request to its softswitches with coreLinkSigner (one key's HMAC pads made
 * once, a buffer kept across requests): the P-KS-Link it writes is signCoreLink's, byte for byte,
 * for any key and request, one after another with the same signer, and the verifier takes it.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoreLinkVerifier, coreLinkSigner, P_KS_LINK, signCoreLink } from '../../src/adapters/sip/core-link.js';
import { createRequest, parseMessage, serialize, type SipRequest } from '../../src/sip/index.js';

const T0 = 1_700_000_000_000;

function request(extra: Array<[string, string]>, body: string): SipRequest {
  const req = createRequest('REGISTER', 'sip:lab.example', [
    ['Via', 'SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKsigner;rport'],
    ['From', '<sip:alice@lab.example>;tag=1'],
    ['To', '<sip:alice@lab.example>'],
    ['Call-ID', 'c1@192.0.2.1'],
    ['CSeq', '2 REGISTER'],
    ...extra,
  ], body ? Buffer.from(body, 'utf8') : undefined);
  // as received and forwarded: parsed from the wire
  const r = parseMessage(serialize(req));
  if (!r.ok) throw new Error(r.error.reason);
  return r.message as SipRequest;
}

describe('core link: the SBC signer', () => {
  it('writes signCoreLink\'s P-KS-Link for any key and request, request after request, and the verifier takes it', () => {
    const value = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' ').trim()).filter((s) => s.length > 0);
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 130 }),
      fc.array(fc.tuple(fc.constantFrom('P-KS-IDSP', 'Contact', 'X-Long', 'Authorization'), value), { maxLength: 6 }),
      // some texts past the signer's first 2 KiB buffer, then short ones again
      fc.array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 4 }),
      fc.string({ maxLength: 30 }),
      (keyBytes, headers, padding, body) => {
        const key = Buffer.from(keyBytes);
        const sign = coreLinkSigner(key);
        const verifier = new CoreLinkVerifier(key, { now: () => T0 });
        padding.forEach((n, i) => {
          const extra: Array<[string, string]> = [...headers, ['X-Pad', 'p'.repeat(n) + i]];
          const a = request(extra, body);
          const b = request(extra, body);
          sign(a, T0 - i);
          signCoreLink(b, key, T0 - i);
          expect(a.getAll(P_KS_LINK)).toEqual(b.getAll(P_KS_LINK));
          expect(a.get('Max-Forwards')).toBe('70');
          expect(serialize(a).equals(serialize(b))).toBe(true);
          expect(verifier.verify(a)).toEqual({ ok: true });
        });
      },
    ), { numRuns: 150 });
  });

  it('replaces a P-KS-Link the request carries; another key\'s signature is refused', () => {
    const key = randomBytes(32);
    const req = request([[P_KS_LINK, 'ts=1;mac=forged']], '');
    coreLinkSigner(key)(req, T0);
    expect(req.getAll(P_KS_LINK)).toHaveLength(1);
    expect(new CoreLinkVerifier(key, { now: () => T0 }).verify(req)).toEqual({ ok: true });
    const other = request([], '');
    coreLinkSigner(randomBytes(32))(other, T0);
    expect(new CoreLinkVerifier(key, { now: () => T0 }).verify(other)).toEqual({ ok: false, reason: 'bad-mac' });
  });
});
