/**
 * Sample RAS messages of the kinds a KS1 or H.235.1 exchange carries, with
 * made-up values, for the codec tests (the flow's own messages are built by
 * src/adapters/h323; test/h323/tshark-live.test.ts reads those).
 */
import { H225_PROTOCOL_V7, OID, type ClearToken, type CryptoH323Token, type EndpointType, type RasMessage, type TransportAddress, type VendorIdentifier } from '../../src/h323/index.js';

/** keyswitch's KS1 token OID (src/adapters/h323/oids.ts), under the documentation enterprise number (RFC 5612). */
export const KS_OID = {
  token: '1.3.6.1.4.1.32473.1.1',
};

export const ip4 = (a: string, port: number): TransportAddress => ({ type: 'ipAddress', value: { ip: Buffer.from(a.split('.').map(Number)), port } });
export const ip6 = (port: number): TransportAddress => ({
  type: 'ip6Address',
  value: { ip: Buffer.from('20010db8000000000000000000000001', 'hex'), port },
});

export const vendor: VendorIdentifier = {
  vendor: { t35CountryCode: 181, t35Extension: 0, manufacturerCode: 0x4b53 },
  productId: Buffer.from('keyswitch'),
  versionId: Buffer.from('0.1.0'),
};

export const terminal: EndpointType = { vendor, terminal: {}, mc: false, undefinedNode: false };

const TS1 = 1_700_000_000;

export const ks1Token = (fields: Partial<ClearToken>): ClearToken => ({ tokenOID: KS_OID.token, ...fields });

/** H.235.1 baseline: cryptoHashedToken with HMAC-SHA1-96 over the message (hash zero until computed). */
export const h2351Token = (hash: Buffer = Buffer.alloc(12)): CryptoH323Token => ({
  type: 'nestedcryptoToken',
  value: {
    type: 'cryptoHashedToken',
    value: {
      tokenOID: OID.h2351AllFields,
      hashedVals: {
        tokenOID: OID.h2351ClearToken,
        timeStamp: TS1,
        random: -2_000_000_000n,
        generalID: 'gk.lab.example',
        sendersID: 'alice@lab.example',
      },
      token: { algorithmOID: OID.hmacSha1_96, paramS: {}, hash: { data: hash, bitLength: 96 } },
    },
  },
});

export const pwdHashToken: CryptoH323Token = {
  type: 'cryptoEPPwdHash',
  value: {
    alias: { type: 'h323-ID', value: 'alice' },
    timeStamp: TS1,
    token: { algorithmOID: OID.md5, paramS: {}, hash: { data: Buffer.alloc(16, 0xab), bitLength: 128 } },
  },
};

/** One message of each kind keyswitch speaks, as an exchange would send them. */
export function sampleMessages(): Array<{ name: string; message: RasMessage }> {
  const ep = ip4('192.0.2.10', 1719);
  const gk = ip4('192.0.2.1', 1719);
  return [
    {
      name: 'GRQ (s1)',
      message: {
        type: 'gatekeeperRequest',
        value: {
          requestSeqNum: 1,
          protocolIdentifier: H225_PROTOCOL_V7,
          rasAddress: ep,
          endpointType: terminal,
          gatekeeperIdentifier: 'sbc1.lab.example',
          endpointAlias: [{ type: 'h323-ID', value: 'alice@lab.example' }, { type: 'dialledDigits', value: '4711#' }],
          tokens: [ks1Token({ timeStamp: TS1, challenge: Buffer.alloc(16, 0x11), generalID: 'sbc1.lab.example', sendersID: 'alice@lab.example' })],
          authenticationCapability: [{ type: 'pwdHash', value: null }, { type: 'keyExch', value: KS_OID.token }],
          algorithmOIDs: [OID.hmacSha1_96],
          supportsAssignedGK: false,
        },
      },
    },
    {
      name: 'GRJ (s6)',
      message: {
        type: 'gatekeeperReject',
        value: {
          requestSeqNum: 1,
          protocolIdentifier: H225_PROTOCOL_V7,
          gatekeeperIdentifier: 'sbc1.lab.example',
          rejectReason: { type: 'securityDenial', value: null },
          tokens: [
            ks1Token({
              timeStamp: TS1 + 1,
              challenge: Buffer.alloc(16, 0x22),
              random: 0x7fffffffn,
              generalID: 'alice@lab.example',
              sendersID: 'sbc1.lab.example',
              profileInfo: [
                { elementID: 1, element: { type: 'octets', value: Buffer.alloc(16, 0x11) } },
                { elementID: 2, element: { type: 'octets', value: Buffer.alloc(16, 0x33) } },
                { elementID: 3, element: { type: 'name', value: 'app-hmac;q=1' } },
              ],
            }),
          ],
        },
      },
    },
    {
      name: 'GCF',
      message: {
        type: 'gatekeeperConfirm',
        value: {
          requestSeqNum: 2,
          protocolIdentifier: H225_PROTOCOL_V7,
          gatekeeperIdentifier: 'sbc1.lab.example',
          rasAddress: gk,
          authenticationMode: { type: 'pwdHash', value: null },
          algorithmOID: OID.hmacSha1_96,
        },
      },
    },
    {
      name: 'RRQ (s7)',
      message: {
        type: 'registrationRequest',
        value: {
          requestSeqNum: 3,
          protocolIdentifier: H225_PROTOCOL_V7,
          discoveryComplete: true,
          callSignalAddress: [ip4('192.0.2.10', 1720)],
          rasAddress: [ep, ip6(1719)],
          terminalType: terminal,
          terminalAlias: [
            { type: 'h323-ID', value: 'alice@lab.example' },
            { type: 'url-ID', value: 'h323:alice@lab.example' },
            { type: 'email-ID', value: 'alice@lab.example' },
            { type: 'dialledDigits', value: '0123456789*#,' },
          ],
          gatekeeperIdentifier: 'sbc1.lab.example',
          endpointVendor: vendor,
          timeToLive: 300,
          tokens: [
            ks1Token({
              timeStamp: TS1 + 2,
              challenge: Buffer.alloc(16, 0x44),
              random: -1n,
              generalID: 'sbc1.lab.example',
              sendersID: 'alice@lab.example',
              profileInfo: [
                { elementID: 2, element: { type: 'octets', value: Buffer.alloc(16, 0x33) } },
                { elementID: 4, element: { type: 'octets', value: Buffer.alloc(32, 0x55) } },
                { elementID: 5, element: { type: 'name', value: 'app-hmac;q=1, none;q=0.1' } },
              ],
            }),
          ],
          cryptoTokens: [pwdHashToken],
          keepAlive: false,
          willSupplyUUIEs: false,
          maintainConnection: false,
          supportsAssignedGK: false,
        },
      },
    },
    {
      name: 'RCF (s10)',
      message: {
        type: 'registrationConfirm',
        value: {
          requestSeqNum: 3,
          protocolIdentifier: H225_PROTOCOL_V7,
          callSignalAddress: [ip4('192.0.2.1', 1720)],
          terminalAlias: [{ type: 'h323-ID', value: 'alice@lab.example' }],
          gatekeeperIdentifier: 'sbc1.lab.example',
          endpointIdentifier: 'EP-0001',
          timeToLive: 300,
          tokens: [
            ks1Token({
              timeStamp: TS1 + 3,
              generalID: 'alice@lab.example',
              sendersID: 'sbc1.lab.example',
              h235Key: {
                type: 'secureSharedSecret',
                value: { algorithmOID: '2.16.840.1.101.3.4.1.46', paramS: { iv: Buffer.alloc(12, 0x66) }, encryptedSessionKey: Buffer.alloc(48, 0x77) },
              },
              profileInfo: [
                { elementID: 6, element: { type: 'name', value: 'app-hmac' } },
                { elementID: 7, element: { type: 'bits', value: { data: Buffer.alloc(32, 0x88), bitLength: 256 } } },
              ],
            }),
          ],
          willRespondToIRR: false,
          maintainConnection: false,
        },
      },
    },
    {
      name: 'RRJ (failure)',
      message: {
        type: 'registrationReject',
        value: {
          requestSeqNum: 3,
          protocolIdentifier: H225_PROTOCOL_V7,
          rejectReason: { type: 'securityError', value: { type: 'securityIntegrityFailed', value: null } },
          gatekeeperIdentifier: 'sbc1.lab.example',
        },
      },
    },
    {
      name: 'RRQ keepAlive (H.235.1)',
      message: {
        type: 'registrationRequest',
        value: {
          requestSeqNum: 4,
          protocolIdentifier: H225_PROTOCOL_V7,
          discoveryComplete: true,
          callSignalAddress: [],
          rasAddress: [ep],
          terminalType: terminal,
          gatekeeperIdentifier: 'sbc1.lab.example',
          endpointVendor: vendor,
          timeToLive: 300,
          cryptoTokens: [h2351Token(Buffer.alloc(12, 0x99))],
          keepAlive: true,
          endpointIdentifier: 'EP-0001',
          willSupplyUUIEs: false,
          maintainConnection: false,
          supportsAssignedGK: false,
        },
      },
    },
    { name: 'RIP', message: { type: 'requestInProgress', value: { requestSeqNum: 4, delay: 2000 } } },
    {
      name: 'URQ (gatekeeper)',
      message: {
        type: 'unregistrationRequest',
        value: {
          requestSeqNum: 5,
          callSignalAddress: [ip4('192.0.2.10', 1720)],
          endpointAlias: [{ type: 'h323-ID', value: 'alice@lab.example' }],
          endpointIdentifier: 'EP-0001',
          gatekeeperIdentifier: 'sbc1.lab.example',
          cryptoTokens: [h2351Token()],
          reason: { type: 'ttlExpired', value: null },
        },
      },
    },
    { name: 'UCF', message: { type: 'unregistrationConfirm', value: { requestSeqNum: 5 } } },
    {
      name: 'URJ',
      message: { type: 'unregistrationReject', value: { requestSeqNum: 6, rejectReason: { type: 'securityError', value: { type: 'securityReplay', value: null } } } },
    },
    {
      name: 'GRJ (plain)',
      message: {
        type: 'gatekeeperReject',
        value: { requestSeqNum: 7, protocolIdentifier: H225_PROTOCOL_V7, rejectReason: { type: 'terminalExcluded', value: null } },
      },
    },
    {
      name: 'RRJ duplicateAlias',
      message: {
        type: 'registrationReject',
        value: {
          requestSeqNum: 8,
          protocolIdentifier: H225_PROTOCOL_V7,
          rejectReason: { type: 'duplicateAlias', value: [{ type: 'h323-ID', value: 'bob' }] },
        },
      },
    },
  ];
}
