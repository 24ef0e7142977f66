import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import radius from 'radius';
import { describe, expect, it } from 'vitest';
import {
  deregisteredAttributes,
  digestRequestAttributes,
  failedAttributes,
  failureOutcomeAttributes,
  registeredAttributes,
  rejectAttributes,
  vectorRequestAttributes,
} from '../../src/adapters/radius/auc-attributes.js';
import { decodePacket, encodePacket, type Attribute } from '../../src/radius/codec.js';
import { Attr, KEYSWITCH_VENDOR_ID, RadiusCode, loadDictionary } from '../../src/radius/dictionary.js';
import { signAccessRequest, signAccountingRequest, signResponse } from '../../src/radius/sign.js';

/**
 * Our codec replaced the `radius` package's encode/decode on the hot path
 * (docs/performance.md, "Softswitch and AuC (session 4)"). The package stays
 * a dependency for its dictionaries, which makes it the reference here: the
 * same attributes give the same bytes, and the same bytes the same names.
 */
loadDictionary();
const secret = Buffer.from('parity-secret');
const NAMES: Record<number, string> = { 1: 'Access-Request', 2: 'Access-Accept', 3: 'Access-Reject', 4: 'Accounting-Request', 5: 'Accounting-Response' };

/** What encodePacket did before session 4: the package encodes, our signatures go on top. */
function packageEncode(code: number, attributes: Attribute[], reqAuth: Buffer, proxyState: Buffer[] = []): Buffer {
  const list: unknown[] = [['Message-Authenticator', Buffer.alloc(16)]];
  for (const a of attributes) {
    if (a.value === '') continue;
    list.push(a.vendor ? ['Vendor-Specific', KEYSWITCH_VENDOR_ID, [[a.name, a.value]]] : [a.name, a.value]);
  }
  for (const ps of proxyState) list.push([Attr.ProxyState, ps]);
  const packet: Buffer = radius.encode({ code: NAMES[code], identifier: 7, secret: 'unused', attributes: list, add_message_authenticator: false, authenticator: reqAuth } as Parameters<typeof radius.encode>[0]);
  if (code === RadiusCode.AccountingRequest) signAccountingRequest(packet, secret, 22);
  else if (code === RadiusCode.AccessRequest) {
    reqAuth.copy(packet, 4);
    signAccessRequest(packet, secret, 22);
  } else signResponse(packet, secret, reqAuth, 22);
  return packet;
}

const now = Date.now();
const cases: [string, number, Attribute[]][] = [
  ['vector request', RadiusCode.AccessRequest, vectorRequestAttributes({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })],
  ['digest request', RadiusCode.AccessRequest, digestRequestAttributes({ idc: '1000@lab.example', username: '1000', realm: 'lab.example', algorithm: 'SHA-256' }, 'softswitch')],
  [
    'vector accept (unhidden parts)',
    RadiusCode.AccessAccept,
    [
      { name: 'Keyswitch-Rand', value: randomBytes(16), vendor: true },
      { name: 'Keyswitch-E-Kc', value: randomBytes(60), vendor: true },
      { name: 'Keyswitch-Rand-Expires', value: new Date(Math.floor(now / 1000) * 1000), vendor: true },
    ],
  ],
  ['reject', RadiusCode.AccessReject, rejectAttributes('locked', 12.2)],
  ['registered', RadiusCode.AccountingRequest, registeredAttributes({ idc: 'a@x', idsp: 'b', ipc: '192.0.2.1', protocol: 'sip', contact: 'sip:a@192.0.2.1;transport=udp', mechanism: '', expiresAt: now, rand: randomBytes(16) })],
  ['deregistered', RadiusCode.AccountingRequest, deregisteredAttributes({ idc: 'a@x', idsp: 'b', protocol: 'mgcp' })],
  ['failed', RadiusCode.AccountingRequest, failedAttributes({ idc: 'a@x', idsp: 'b' }, 'abcd')],
  ['failure outcome', RadiusCode.AccountingResponse, failureOutcomeAttributes({ locked: true, retryAfterSeconds: 30 })],
  ['standard types', RadiusCode.AccessRequest, [{ name: 'NAS-IP-Address', value: '192.0.2.7' }, { name: 'NAS-Port', value: 5060 }, { name: 'Service-Type', value: 'Login-User' }, { name: 'Calling-Station-Id', value: 'é 1' }]],
];

describe('RADIUS codec against the radius package', () => {
  for (const [name, code, attributes] of cases) {
    it(`${name}: the same bytes, and the same named attributes decoded`, () => {
      const reqAuth = randomBytes(16);
      const proxyState = [randomBytes(5)];
      const ours = encodePacket({ code, identifier: 7, secret, attributes, requestAuthenticator: reqAuth, proxyState });
      expect(ours.toString('hex')).toBe(packageEncode(code, attributes, reqAuth, proxyState).toString('hex'));
      const d = decodePacket(ours);
      expect(d.ok).toBe(true);
      const theirs = radius.decode_without_secret({ packet: ours }).attributes as Record<string, unknown>;
      if (d.ok) expect(d.packet.attributes).toEqual(theirs);
    });
  }

  it('decodes random attribute lists as the package does, where the package can decode them', () => {
    const attr = fc.oneof(
      fc.tuple(fc.constantFrom(1, 4, 5, 6, 18, 31, 32, 40, 44, 55, 61, 87), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([t, v]) => Buffer.concat([Buffer.from([t, 6]), v])),
      fc.tuple(fc.integer({ min: 1, max: 17 }), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([t, v]) => {
        const h = Buffer.from([26, 12, 0, 0, 0, 0, t, 6]);
        h.writeUInt32BE(KEYSWITCH_VENDOR_ID, 2);
        return Buffer.concat([h, v]);
      }),
    );
    fc.assert(
      fc.property(fc.array(attr, { maxLength: 10 }), (attrs) => {
        const body = Buffer.concat(attrs);
        const packet = Buffer.concat([Buffer.from([2, 1, 0, 0]), randomBytes(16), body]);
        packet.writeUInt16BE(packet.length, 2);
        const d = decodePacket(packet);
        expect(d.ok).toBe(true);
        if (d.ok) expect(d.packet.attributes).toEqual(radius.decode_without_secret({ packet }).attributes);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to encode what does not fit or is not in the dictionary', () => {
    expect(() => encodePacket({ code: 1, identifier: 1, secret, attributes: [{ name: 'No-Such-Attribute', value: 'x' }] })).toThrow(/unknown/);
    expect(() => encodePacket({ code: 1, identifier: 1, secret, attributes: [{ name: 'Reply-Message', value: 'x'.repeat(254) }] })).toThrow(/longer/);
    expect(() => encodePacket({ code: 1, identifier: 1, secret, attributes: [{ name: 'NAS-Port', value: 'many' }] })).toThrow(/bad value/);
  });
});
