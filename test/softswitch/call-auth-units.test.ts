/** CallAuthenticator on its own: decisions, and garbage from the network never throws. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AucService } from '../../src/contracts/auc.js';
import { CallAuthenticator } from '../../src/softswitch/call-auth.js';
import { DigestAuth, digestHex, digestResponse } from '../../src/softswitch/digest.js';
import { createRequest, formatAuth, type MessageSource, type SipRequest } from '../../src/sip/index.js';

const TRUSTED = '10.0.0.1';
const ALICE = 'alice@lab.example';
const PW = 'alice pw';

function make(): { auth: CallAuthenticator; digest: DigestAuth; failed: unknown[] } {
  const failed: unknown[] = [];
  const digest = new DigestAuth({ realm: 'lab.example', algorithms: ['MD5'] });
  const auc: AucService = {
    vector: async () => ({ ok: false, reason: 'unknown-terminal' }),
    digest: async (r) => (r.idc === ALICE ? { ok: true, ha1: digestHex('MD5', `${r.username}:lab.example:${PW}`) } : { ok: false, reason: 'unknown-terminal' }),
    registered: async () => undefined,
    deregistered: async () => undefined,
    failed: async (r) => {
      failed.push(r);
      return { locked: false };
    },
  };
  const auth = new CallAuthenticator({ trusted: (a) => a === TRUSTED, digest, auc, selfId: 'ss1', retryAfterSec: 5, agent: 'lab.example' });
  return { auth, digest, failed };
}

const src = (address: string): MessageSource => ({ address, port: 5060, protocol: 'udp' } as unknown as MessageSource);

function invite(headers: Array<[string, string]> = [], from = `<sip:${ALICE}>;tag=1`): SipRequest {
  return createRequest('INVITE', 'sip:bob@lab.example', [['From', from], ['To', '<sip:bob@lab.example>'], ['Call-ID', 'c1'], ['CSeq', '1 INVITE'], ['Max-Forwards', '70'], ...headers]);
}

function answer(req: SipRequest, nonce: string, o: { username?: string; password?: string; uri?: string } = {}): string {
  const uri = o.uri ?? req.uri;
  const ha1 = digestHex('MD5', `${o.username ?? ALICE}:lab.example:${o.password ?? PW}`);
  const response = digestResponse('MD5', ha1, { nonce, nc: '00000001', cnonce: 'abc', method: 'INVITE', uri });
  return formatAuth('Digest', { username: o.username ?? ALICE, realm: 'lab.example', nonce, uri, response, algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'abc' }, ['algorithm', 'qop', 'nc']);
}

describe('CallAuthenticator', () => {
  it('407 without credentials, ok with the right ones (user part accepted as username), 407 + AuC report with wrong ones', async () => {
    const { auth, digest, failed } = make();
    const first = await auth.check(invite(), src('192.0.2.9'));
    expect(first).toMatchObject({ ok: false, status: 407 });
    const ok = await auth.check(invite([['Proxy-Authorization', answer(invite(), digest.newNonce(), { username: 'alice' })]]), src('192.0.2.9'));
    expect(ok).toEqual({ ok: true, identity: ALICE, by: 'digest' });
    const wrong = await auth.check(invite([['Proxy-Authorization', answer(invite(), digest.newNonce(), { password: 'nope' })]]), src('192.0.2.9'));
    expect(wrong).toMatchObject({ ok: false, status: 407 });
    expect(failed).toEqual([{ idc: ALICE, idsp: 'ss1' }]);
  });

  it('the digest uri must be the Request-URI, except through a trusted SBC', async () => {
    const { auth, digest } = make();
    const other = (a: string) => invite([['Proxy-Authorization', answer(invite(), digest.newNonce(), { uri: 'sip:carol@lab.example' })]]).set('X-Src', a);
    expect(await auth.check(other('direct'), src('192.0.2.9'))).toMatchObject({ ok: false, status: 400 });
    expect(await auth.check(other('sbc'), src(TRUSTED))).toMatchObject({ ok: true });
  });

  it('believes P-KS-Auth + P-Asserted-Identity from a trusted source only, and only for the From', async () => {
    const { auth } = make();
    const asserted = (who: string) => invite([['P-KS-Auth', 'mechanism=tls-psk'], ['P-Asserted-Identity', `<sip:${who}>`]]);
    expect(await auth.check(asserted(ALICE), src(TRUSTED))).toEqual({ ok: true, identity: ALICE, by: 'sbc' });
    expect(await auth.check(asserted('bob@lab.example'), src(TRUSTED))).toMatchObject({ ok: false, status: 403 });
    expect(await auth.check(asserted(ALICE), src('192.0.2.9'))).toMatchObject({ ok: false, status: 407 });
    // a mechanism the SBC does not enforce on messages is no assertion
    expect(await auth.check(invite([['P-KS-Auth', 'mechanism=digest'], ['P-Asserted-Identity', `<sip:${ALICE}>`]]), src(TRUSTED))).toMatchObject({ ok: false, status: 407 });
  });

  it('consume() drops only our realm\'s credentials', () => {
    const { auth } = make();
    const r = invite([['Proxy-Authorization', 'Digest username="a", realm="lab.example", nonce="n", uri="sip:x", response="00"'], ['Proxy-Authorization', 'Digest username="a", realm="other.example", nonce="n", uri="sip:x", response="00"']]);
    auth.consume(r);
    expect(r.getAll('Proxy-Authorization')).toEqual(['Digest username="a", realm="other.example", nonce="n", uri="sip:x", response="00"']);
  });

  it('never throws on garbage in P-Asserted-Identity, P-KS-Auth, Proxy-Authorization (fuzz)', async () => {
    const { auth } = make();
    const value = fc.oneof(
      fc.string({ maxLength: 80 }).map((s) => s.replace(/[\r\n]/g, ' ')),
      fc.constantFrom('<sip:alice@lab.example', '<>', 'Digest', 'Digest realm="lab.example"', 'Digest realm="lab.example", username="alice", nonce="AAAA", uri="sip:", response="zz"', 'mechanism=app-hmac', 'mechanism="tls"', '"x" <tel:+1>'),
    );
    await fc.assert(
      fc.asyncProperty(value, value, value, fc.boolean(), async (pai, pks, pa, trusted) => {
        const r = invite([['P-Asserted-Identity', pai], ['P-KS-Auth', pks], ['Proxy-Authorization', pa]]);
        const out = await auth.check(r, src(trusted ? TRUSTED : '192.0.2.9'));
        expect(out.ok ? 200 : out.status).toBeOneOf([200, 400, 403, 407, 503]);
        auth.consume(r);
      }),
      { numRuns: 300 },
    );
  });
});
