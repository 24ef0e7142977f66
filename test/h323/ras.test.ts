/**
 * RAS messages byte by byte, the H.235.1 hash field located in an encoding,
 * signed RandomVal, unknown extensions from newer peers, and refusals.
 */
import { createHmac, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ClearToken,
  H225_PROTOCOL_V7,
  OID,
  PerEncodeError,
  decodePer,
  decodeRas,
  encodePer,
  encodeRas,
  encodeRasWithPositions,
  zeroBits,
  type CryptoHashedToken,
  type RasMessage,
  type RegistrationRequest,
} from '../../src/h323/index.js';
import { BitWriter } from '../../src/h323/per/index.js';
import { h2351Token, ip4, sampleMessages, terminal, vendor } from './samples.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The GRQ that docs/h323.md annotates octet by octet. */
export const DOC_GRQ: RasMessage = {
  type: 'gatekeeperRequest',
  value: {
    requestSeqNum: 1,
    protocolIdentifier: H225_PROTOCOL_V7,
    rasAddress: ip4('192.0.2.10', 1719),
    endpointType: { terminal: {}, mc: false, undefinedNode: false },
    endpointAlias: [{ type: 'h323-ID', value: 'alice' }],
    supportsAssignedGK: false,
  },
};
export const DOC_GRQ_HEX = '02 20 0000 06 0008914A0007 00 C000020A 06B7 02 00 01 40 04 0061006C006900630065 14 00 40 01 00';

describe('RAS encodings checked by hand', () => {
  it('a version 7 GRQ (docs/h323.md)', () => {
    expect(encodeRas(DOC_GRQ)).toEqual(hex(DOC_GRQ_HEX));
    expect(decodeRas(hex(DOC_GRQ_HEX))).toMatchObject({ ok: true, message: DOC_GRQ });
  });

  it('the smallest messages: UCF, RIP, URJ', () => {
    // UCF: choice ext 0, index 7 (00111), UCF ext 0, nonStandardData 0 → 0001 1100, seq 5 → 0004.
    expect(encodeRas({ type: 'unregistrationConfirm', value: { requestSeqNum: 5 } })).toEqual(hex('1c 0004'));
    // RIP: extension alternative 0 → 1 0000000, open type 05: RIP ext 0, 4 optional bits 0000, seq 0003, delay 1999 → 07cf.
    expect(encodeRas({ type: 'requestInProgress', value: { requestSeqNum: 4, delay: 2000 } })).toEqual(hex('80 05 00 0003 07cf'));
    // URJ: index 8 (01000), URJ ext 0, nonStandardData 0; seq; reason: extension alternative 1 …
    const urj = encodeRas({ type: 'unregistrationReject', value: { requestSeqNum: 6, rejectReason: { type: 'securityDenial', value: null } } });
    expect(urj).toEqual(hex('20 0005 81 0100')); // 1 0000001, open type of an empty NULL: 01 00
  });

  it('each sample message decodes to what was encoded', () => {
    for (const { message } of sampleMessages()) {
      expect(decodeRas(encodeRas(message))).toMatchObject({ ok: true, message });
    }
  });
});

describe('H.235.1: the hash covers the whole encoding with the hash field zeroed', () => {
  const password = 'secret';
  const key = createHash('sha1').update(password, 'utf8').digest();
  const lightweight = (hash: Buffer): RasMessage => ({
    type: 'registrationRequest',
    value: {
      requestSeqNum: 9,
      protocolIdentifier: H225_PROTOCOL_V7,
      discoveryComplete: true,
      callSignalAddress: [],
      rasAddress: [ip4('192.0.2.10', 1719)],
      terminalType: terminal,
      endpointVendor: vendor,
      cryptoTokens: [h2351Token(hash)],
      keepAlive: true,
      endpointIdentifier: 'EP-0001',
      willSupplyUUIEs: false,
      maintainConnection: false,
    },
  });
  const hashOf = (m: RasMessage) => {
    const t = (m as { value: RegistrationRequest }).value.cryptoTokens![0]!;
    if (t.type !== 'nestedcryptoToken' || t.value.type !== 'cryptoHashedToken') throw new Error('not a hashed token');
    return (t.value.value as CryptoHashedToken).token.hash;
  };

  it('a sender encodes with a zero hash, MACs, and the receiver finds and zeroes the same 96 bits', () => {
    const zeroMsg = lightweight(Buffer.alloc(12));
    const zeroed = encodeRasWithPositions(zeroMsg);
    const mac = createHmac('sha1', key).update(zeroed.bytes).digest().subarray(0, 12);
    const sent = encodeRas(lightweight(mac));
    expect(sent.length).toBe(zeroed.bytes.length);

    const got = decodeRas(sent);
    expect(got.ok).toBe(true);
    if (!got.ok) return;
    const hash = hashOf(got.message);
    const at = got.locate(hash)!;
    expect(at).toEqual(zeroed.positions.get(hashOf(zeroMsg)));
    expect(at.bitLength).toBe(96);
    expect(at.bitOffset % 8).toBe(0);
    expect(sent.subarray(at.bitOffset / 8, at.bitOffset / 8 + 12)).toEqual(mac);
    const check = createHmac('sha1', key).update(zeroBits(sent, at)).digest().subarray(0, 12);
    expect(check).toEqual(hash.data);

    // One flipped bit anywhere outside the hash breaks it.
    const tampered = Buffer.from(sent);
    tampered[5]! ^= 1;
    const t = decodeRas(tampered);
    if (t.ok) {
      const h = hashOf(t.message);
      const again = createHmac('sha1', key).update(zeroBits(tampered, t.locate(h)!)).digest().subarray(0, 12);
      expect(again).not.toEqual(h.data);
    }
  });

  it('encodeRasWithPositions tells where the hash goes before it is known', () => {
    const m = lightweight(Buffer.alloc(12));
    const { bytes, positions } = encodeRasWithPositions(m);
    const pos = positions.get(hashOf(m))!;
    expect(pos.bitLength).toBe(96);
    expect(bytes.subarray(pos.bitOffset / 8, pos.bitOffset / 8 + 12)).toEqual(Buffer.alloc(12));
    const mac = Buffer.alloc(12, 0xee);
    const patched = Buffer.from(bytes);
    mac.copy(patched, pos.bitOffset / 8);
    expect(patched).toEqual(encodeRas(lightweight(mac)));
  });
});

describe('RandomVal is a signed INTEGER', () => {
  const token = (random: bigint) => encodePer(ClearToken, { tokenOID: OID.h2351ClearToken, random });

  it('four octets with the high bit set read as negative, and encode back to the same four octets', () => {
    const b = token(-2147483648n);
    expect(b.toString('hex')).toContain('0480000000');
    expect(decodePer(ClearToken, b)).toMatchObject({ ok: true, value: { random: -2147483648n } });
  });

  it('an unsigned 0xFFFFFFFF needs five octets; four octets of FF are -1', () => {
    expect(token(0xffffffffn).toString('hex')).toContain('0500ffffffff');
    const minusOne = token(-1n);
    expect(minusOne.toString('hex')).toContain('01ff');
  });
});

describe('messages from newer or other peers', () => {
  it('an unknown extension addition of an RRQ is kept and written back byte for byte', () => {
    const rrq = sampleMessages().find((s) => s.name === 'RRQ (s7)')!.message;
    const withFuture = { ...rrq, value: { ...(rrq as { value: RegistrationRequest }).value, unknownExtensions: [{ index: 40, data: hex('c0ffee') }] } } as RasMessage;
    const b = encodeRas(withFuture);
    const d = decodeRas(b);
    expect(d).toMatchObject({ ok: true, message: withFuture });
    if (d.ok) expect(encodeRas(d.message)).toEqual(b);
  });

  it('an older RRQ without the mandatory keepAlive (version 1) is accepted', () => {
    const rrq: RasMessage = {
      type: 'registrationRequest',
      value: {
        requestSeqNum: 1,
        protocolIdentifier: '0.0.8.2250.0.1',
        discoveryComplete: false,
        callSignalAddress: [ip4('192.0.2.10', 1720)],
        rasAddress: [ip4('192.0.2.10', 1719)],
        terminalType: terminal,
        endpointVendor: vendor,
      },
    };
    const d = decodeRas(encodeRas(rrq));
    expect(d).toMatchObject({ ok: true, message: rrq });
    if (d.ok) expect((d.message as { value: RegistrationRequest }).value.keepAlive).toBeUndefined();
  });

  it('an unknown RasMessage extension alternative and an unknown alias kind are kept', () => {
    const future: RasMessage = { type: 'unknownExtension', index: 20, data: hex('0102') };
    expect(decodeRas(encodeRas(future))).toMatchObject({ ok: true, message: future });
    const urq: RasMessage = {
      type: 'unregistrationRequest',
      value: { requestSeqNum: 2, callSignalAddress: [], endpointAlias: [{ type: 'unknownExtension', index: 9, data: hex('aa') }] },
    };
    expect(decodeRas(encodeRas(urq))).toMatchObject({ ok: true, message: urq });
  });

  it('a RAS message this codec does not model (an ARQ) is refused as unsupported', () => {
    const w = new BitWriter();
    w.bit(0);
    w.bits(9, 5); // admissionRequest
    w.bits(0, 16);
    expect(decodeRas(w.finish())).toMatchObject({ ok: false, error: { code: 'unsupported', path: 'admissionRequest' } });
  });

  it('a known extension alternative the codec does not model (infoRequestAck) travels as opaque bytes', () => {
    const m: RasMessage = { type: 'infoRequestAck', value: { opaque: hex('00 0007') } };
    const b = encodeRas(m);
    expect(b).toEqual(hex('83 03 000007'));
    expect(decodeRas(b)).toMatchObject({ ok: true, message: m });
  });
});

describe('encoding refuses values outside their types', () => {
  it('names the component', () => {
    const bad = { ...DOC_GRQ, value: { ...DOC_GRQ.value, requestSeqNum: 0 } } as RasMessage;
    expect(() => encodeRas(bad)).toThrow(PerEncodeError);
    expect(() => encodeRas(bad)).toThrow(/gatekeeperRequest\.requestSeqNum/);
    const noAddress = { ...DOC_GRQ, value: { ...DOC_GRQ.value, rasAddress: undefined } } as unknown as RasMessage;
    expect(() => encodeRas(noAddress)).toThrow(/rasAddress is required/);
    const shortIp = { ...DOC_GRQ, value: { ...DOC_GRQ.value, rasAddress: { type: 'ipAddress', value: { ip: Buffer.alloc(3), port: 1 } } } } as RasMessage;
    expect(() => encodeRas(shortIp)).toThrow(/size 3, expected 4/);
    const longId = { ...DOC_GRQ, value: { ...DOC_GRQ.value, gatekeeperIdentifier: 'x'.repeat(129) } } as RasMessage;
    expect(() => encodeRas(longId)).toThrow(/size 129/);
  });
});

describe('count guards and extension alternatives', () => {
  it('a cryptoTokens list holding only an unknown CryptoH323Token alternative (3 octets) decodes: the guard counts the extension path', () => {
    // Found by the property test: the guard took the smallest root alternative as the least an item can take.
    const m = {
      type: 'registrationReject',
      value: { requestSeqNum: 65535, protocolIdentifier: '0.0', rejectReason: { type: 'resourceUnavailable', value: null }, cryptoTokens: [{ type: 'unknownExtension', index: 0, data: Buffer.from([0]) }] },
    } as unknown as RasMessage;
    const d = decodeRas(encodeRas(m));
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.message).toEqual(m);
  });
});
