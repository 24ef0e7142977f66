import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avp,
  decodeAvps,
  decodeMessage,
  DiameterDecodeError,
  DiameterFramer,
  defaultDictionary,
  encodeAvps,
  encodeMessage,
  FLAG_ERROR,
  FLAG_PROXIABLE,
  FLAG_REQUEST,
  getBuffer,
  getGroup,
  getString,
  RESULT,
  VENDOR_3GPP,
  type Avp,
  type DiameterMessage,
} from '../../src/diameter/index.js';

function maa(rand: Buffer, auth: Buffer, ekc: Buffer): DiameterMessage {
  return {
    flags: FLAG_PROXIABLE,
    commandCode: 303,
    applicationId: 16777216,
    hopByHop: 0x01020304,
    endToEnd: 0xfffffffe,
    avps: [
      avp('Session-Id', 'ss1.lab.example;1;2'),
      avp('Result-Code', 2001),
      avp('Origin-Host', 'auc1.lab.example'),
      avp('Origin-Realm', 'lab.example'),
      avp('User-Name', 'alice@lab.example'),
      avp('SIP-Auth-Data-Item', [
        avp('SIP-Item-Number', 1),
        avp('SIP-Authentication-Scheme', 'KS1'),
        avp('SIP-Authenticate', rand),
        avp('SIP-Authorization', auth),
        avp('KS-E-Kc', ekc),
        avp('KS-Rand-Expires', 1764097230123n),
      ]),
    ],
  };
}

describe('Diameter codec', () => {
  it('round-trips a Cx MAA byte for byte, keeping binary OctetStrings exact', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (r, a) => {
        // 0xff/0xc3 sequences are invalid UTF-8: a text-decoding codec would corrupt them
        const rand = Buffer.concat([Buffer.from([0xff, 0xc3, 0x28]), Buffer.from(r)]);
        const bytes = encodeMessage(maa(rand, Buffer.from(a), randomBytes(60)));
        const m = decodeMessage(bytes);
        const item = getGroup(m.avps, 'SIP-Auth-Data-Item')!;
        expect(getBuffer(item, 'SIP-Authenticate')!.equals(rand)).toBe(true);
        expect(getBuffer(item, 'SIP-Authorization')!.equals(Buffer.from(a))).toBe(true);
        expect(encodeMessage(m).equals(bytes)).toBe(true);
      }),
    );
  });

  it('writes the RFC 6733 header and AVP layout', () => {
    const bytes = encodeMessage({
      flags: FLAG_REQUEST | FLAG_PROXIABLE,
      commandCode: 303,
      applicationId: 16777216,
      hopByHop: 7,
      endToEnd: 9,
      avps: [avp('Public-Identity', 'sip:a')],
    });
    expect(bytes[0]).toBe(1);
    expect(bytes.readUIntBE(1, 3)).toBe(bytes.length);
    expect(bytes[4]).toBe(0xc0);
    expect(bytes.readUIntBE(5, 3)).toBe(303);
    expect(bytes.readUInt32BE(8)).toBe(16777216);
    // Public-Identity: code 601, flags V|M, length 12 + 5, vendor 10415, "sip:a", 3 bytes padding
    expect(bytes.readUInt32BE(20)).toBe(601);
    expect(bytes[24]).toBe(0xc0);
    expect(bytes.readUIntBE(25, 3)).toBe(17);
    expect(bytes.readUInt32BE(28)).toBe(VENDOR_3GPP);
    expect(bytes.subarray(32, 37).toString()).toBe('sip:a');
    expect([...bytes.subarray(37, 40)]).toEqual([0, 0, 0]);
    expect(bytes.length).toBe(40);
  });

  it('decodes every data type and re-encodes it unchanged', () => {
    const avps: Avp[] = [
      avp('Host-IP-Address', '192.0.2.7'),
      avp('Host-IP-Address', '2001:db8::1'),
      avp('Event-Timestamp', new Date('2026-01-02T03:04:05Z')),
      avp('KS-Registration-Expires', 0xfffffffffffffn),
      avp('Disconnect-Cause', 2),
      avp('Redirect-Host', 'aaa://auc1.lab.example:3868;transport=tcp'),
      avp('Origin-State-Id', 0xffffffff),
    ];
    const back = decodeAvps(encodeAvps(avps));
    expect(back.map((a) => a.value)).toEqual(['192.0.2.7', '2001:db8::1', new Date('2026-01-02T03:04:05Z'), 0xfffffffffffffn, 2, 'aaa://auc1.lab.example:3868;transport=tcp', 0xffffffff]);
    expect(encodeAvps(back).equals(encodeAvps(avps))).toBe(true);
  });

  it('keeps unknown AVPs (vendor or not, M bit or not) as raw bytes that re-encode unchanged', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            code: fc.integer({ min: 5000, max: 0xffffffff }),
            vendorId: fc.constantFrom(0, 99999, 0xffffffff),
            mandatory: fc.boolean(),
            data: fc.uint8Array({ maxLength: 40 }),
          }),
          { maxLength: 6 },
        ),
        (unknowns) => {
          const avps: Avp[] = [avp('Session-Id', 'x;1;2')];
          for (const u of unknowns) {
            avps.push({ code: u.code, vendorId: u.vendorId, flags: (u.vendorId ? 0x80 : 0) | (u.mandatory ? 0x40 : 0), value: Buffer.from(u.data) });
          }
          const msg: DiameterMessage = { flags: FLAG_REQUEST, commandCode: 303, applicationId: 16777216, hopByHop: 1, endToEnd: 2, avps };
          const bytes = encodeMessage(msg);
          const back = decodeMessage(bytes);
          expect(back.avps).toHaveLength(avps.length);
          back.avps.slice(1).forEach((a, i) => {
            expect(a.code).toBe(unknowns[i]!.code);
            expect(a.vendorId).toBe(unknowns[i]!.vendorId);
            expect(Buffer.from(a.value as Buffer).equals(Buffer.from(unknowns[i]!.data))).toBe(true);
          });
          expect(Boolean(back.unknownMandatory)).toBe(unknowns.some((u) => u.mandatory));
          expect(encodeMessage(back).equals(bytes)).toBe(true);
        },
      ),
    );
  });

  it('nests grouped AVPs (SIP-Digest-Authenticate inside SIP-Auth-Data-Item)', () => {
    const item = avp('SIP-Auth-Data-Item', [
      avp('SIP-Authentication-Scheme', 'SIP Digest'),
      avp('SIP-Digest-Authenticate', [avp('Digest-Realm', 'lab.example'), avp('Digest-Algorithm', 'SHA-256'), avp('Digest-HA1', 'ab'.repeat(32))]),
      { code: 77777, vendorId: 32473, flags: 0x80, value: Buffer.from([1, 2, 3]) },
    ]);
    const [back] = decodeAvps(encodeAvps([item]));
    const dig = getGroup(back!.value as Avp[], 'SIP-Digest-Authenticate')!;
    expect(getString(dig, 'Digest-Realm')).toBe('lab.example');
    expect(getString(dig, 'Digest-HA1')).toBe('ab'.repeat(32));
    expect((back!.value as Avp[])[2]!.value).toEqual(Buffer.from([1, 2, 3]));
  });

  it('looks definitions up by (vendor, code) and by name', () => {
    expect(defaultDictionary.avp(609, VENDOR_3GPP)?.name).toBe('SIP-Authenticate');
    expect(defaultDictionary.avp(609)).toBeUndefined();
    expect(defaultDictionary.avpNamed('Server-Assignment-Type')).toMatchObject({ code: 614, vendorId: 10415, type: 'Enumerated' });
    expect(defaultDictionary.avpNamed('KS-E-Ksp')).toMatchObject({ code: 2, vendorId: 32473, mandatory: false });
    expect(defaultDictionary.command(303, 16777216)?.request).toBe('MAR');
    expect(defaultDictionary.command(280, 0)?.answer).toBe('DWA');
  });

  describe('malformed input', () => {
    const good = encodeMessage(maa(randomBytes(16), randomBytes(16), randomBytes(60)));

    const codeOf = (buf: Buffer): number => {
      try {
        decodeMessage(buf);
        return 0;
      } catch (e) {
        expect(e).toBeInstanceOf(DiameterDecodeError);
        return (e as DiameterDecodeError).resultCode;
      }
    };

    it('answers a wrong version with 5011 and a wrong length with 5015', () => {
      const v2 = Buffer.from(good);
      v2[0] = 2;
      expect(codeOf(v2)).toBe(RESULT.UNSUPPORTED_VERSION);
      expect(codeOf(good.subarray(0, good.length - 4))).toBe(RESULT.INVALID_MESSAGE_LENGTH);
    });

    it('answers an AVP that overruns the message with 5014 naming it in Failed-AVP', () => {
      const bad = Buffer.from(good);
      bad.writeUIntBE(0xfff, 25, 3); // Session-Id's length
      try {
        decodeMessage(bad);
        expect.unreachable();
      } catch (e) {
        expect((e as DiameterDecodeError).resultCode).toBe(RESULT.INVALID_AVP_LENGTH);
        expect((e as DiameterDecodeError).failedAvp?.code).toBe(263);
      }
    });

    it('answers an Unsigned32 of 3 bytes with 5014', () => {
      const bytes = encodeMessage({ flags: FLAG_REQUEST, commandCode: 280, applicationId: 0, hopByHop: 1, endToEnd: 1, avps: [{ code: 268, vendorId: 0, flags: 0x40, value: Buffer.from([0, 0, 7]) }] });
      expect(codeOf(bytes)).toBe(RESULT.INVALID_AVP_LENGTH);
    });

    it('answers an E bit on a request with 3008', () => {
      const bad = Buffer.from(good);
      bad[4] = FLAG_REQUEST | FLAG_ERROR;
      expect(codeOf(bad)).toBe(RESULT.INVALID_HDR_BITS);
    });

    it('never throws anything but DiameterDecodeError on random or mutated bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          const buf = Buffer.from(bytes);
          if (buf.length >= 4) {
            buf[0] = 1;
            buf.writeUIntBE(buf.length, 1, 3);
          }
          codeOf(buf);
        }),
        { numRuns: 3000 },
      );
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
          const buf = Buffer.from(good);
          for (const [pos, val] of edits) buf[pos % buf.length] = val;
          codeOf(buf);
        }),
        { numRuns: 3000 },
      );
    });
  });

  describe('stream framing', () => {
    const msgs = [0, 1, 2].map((i) => encodeMessage({ ...maa(randomBytes(16), randomBytes(16), randomBytes(40 + i)), hopByHop: i }));
    const stream = Buffer.concat(msgs);

    it('finds every message whatever the read boundaries', () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 12 }), (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const framer = new DiameterFramer();
          const seen: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, stream.length]) {
            expect(framer.push(stream.subarray(prev, p), (m) => seen.push(Buffer.from(m)))).toBeUndefined();
            prev = p;
          }
          expect(seen.map((s) => s.toString('hex'))).toEqual(msgs.map((m) => m.toString('hex')));
          expect(framer.buffered).toBe(0);
        }),
      );
    });

    it('handles a message delivered one byte at a time', () => {
      const framer = new DiameterFramer();
      const seen: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) framer.push(stream.subarray(i, i + 1), (m) => seen.push(Buffer.from(m)));
      expect(seen).toHaveLength(3);
      expect(decodeMessage(seen[2]!).hopByHop).toBe(2);
    });

    it('refuses a message longer than its bound, and a bad version, without buffering it', () => {
      const framer = new DiameterFramer(100);
      expect(framer.push(msgs[0]!, () => {})?.problem).toBe('too-long');
      const f2 = new DiameterFramer();
      const bad = Buffer.from(msgs[0]!);
      bad[0] = 7;
      const err = f2.push(bad, () => {});
      expect(err?.problem).toBe('unsupported-version');
      expect(err?.header?.length).toBe(20);
    });
  });
});
