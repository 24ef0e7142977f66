/** SDP, RTP, RFC 4733 and G.711 codecs, and the voicemail package: values, round trips, and hostile bytes (fast-check). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { drmOffers, formatDrm, parseDrm, parseSdp, rtpMap, serializeSdp } from '../../src/sdp/index.js';
import {
  alawToLinear, buildRtp, buildTelephoneEvent, decodeG711, dtmfDigit, dtmfEvent, encodeG711, linearToAlaw, linearToUlaw, parseRtp, parseTelephoneEvent, tones, ulawToLinear,
} from '../../src/rtp/index.js';
import { newMessageId, openPackage, PackageError, readPackageHeader, sealPackage } from '../../src/contracts/voicemail-package.js';

const OFFER = [
  'v=0', 'o=alice 2890844526 2890844526 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 6000 RTP/AVP 8 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=drm:ksdrm 0 0 HTTP/TLS', 'a=sendrecv', '',
].join('\r\n');

describe('SDP', () => {
  it('parses an offer to its values and writes it back byte for byte', () => {
    const r = parseSdp(Buffer.from(OFFER));
    if (!r.ok) throw new Error(r.error);
    const m = r.sdp.media[0]!;
    expect(m).toMatchObject({ media: 'audio', port: 6000, proto: 'RTP/AVP', formats: ['8', '0', '101'] });
    expect(r.sdp.connection?.address).toBe('127.0.0.1');
    expect([...rtpMap(r.sdp, m)]).toEqual([['0', { encoding: 'PCMU', clock: 8000 }], ['8', { encoding: 'PCMA', clock: 8000 }], ['101', { encoding: 'telephone-event', clock: 8000 }]]);
    expect(drmOffers(r.sdp, m)).toEqual({ offers: [{ type: 'ksdrm', address: '0', port: 0, transport: 'HTTP/TLS' }], bad: 0 });
    expect(serializeSdp(r.sdp)).toBe(OFFER);
  });

  it('a=drm parses and formats, and junk is refused', () => {
    expect(parseDrm('0 0 0 0')).toEqual({ type: '0', address: '0', port: 0, transport: '0' });
    expect(formatDrm({ type: 'ksdrm', address: '127.0.0.1', port: 8443, transport: 'HTTP/TLS' })).toBe('ksdrm 127.0.0.1 8443 HTTP/TLS');
    for (const bad of ['', 'ksdrm', 'ksdrm 0 0', 'ksdrm 0 99999 HTTP/TLS', 'ks"drm 0 0 x', 'ksdrm a<b 0 HTTP/TLS']) expect(parseDrm(bad)).toBeUndefined();
  });

  it('refuses malformed bodies with the line named', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['x', /line 1/],
      ['o=a 1 1 IN IP4 1.2.3.4\r\n', /v=/],
      ['v=0\r\ns=-\r\nt=0 0\r\n', /o=/],
      ['v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n', /no c= line/],
      ['v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n', /line 6/],
      ['v=0\r\no=a 1 1\r\n', /line 2: o=/],
      ['v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nthis is not sdp\r\n', /line 5/],
    ];
    for (const [body, err] of cases) {
      const r = parseSdp(body);
      expect(r.ok, body).toBe(false);
      if (!r.ok) expect(r.error).toMatch(err);
    }
    expect(parseSdp('v=0\r\n' + 'a=x\r\n'.repeat(300)).ok).toBe(false);
    expect(parseSdp(Buffer.alloc(20000, 0x61)).ok).toBe(false);
  });

  it('random and mutated bodies never throw, and what parses round-trips to the same values', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)), fc.tuple(fc.nat(OFFER.length), fc.string({ maxLength: 8 })).map(([i, s]) => Buffer.from(OFFER.slice(0, i) + s + OFFER.slice(i)))), (b) => {
        const r = parseSdp(b);
        if (r.ok) {
          const again = parseSdp(serializeSdp(r.sdp));
          expect(again.ok).toBe(true);
          if (again.ok) expect(again.sdp.media.map((m) => [m.port, m.formats, m.attributes])).toEqual(r.sdp.media.map((m) => [m.port, m.formats, m.attributes]));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('RTP and RFC 4733', () => {
  it('builds and parses packets; junk, RTCP and bad lengths are not RTP', () => {
    const p = { marker: true, payloadType: 0, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload: Buffer.from([1, 2, 3]) };
    expect(parseRtp(buildRtp(p))).toEqual(p);
    expect(parseRtp(Buffer.alloc(11))).toBeUndefined();
    const withCsrc = buildRtp(p);
    withCsrc[0] = 0x8f; // 15 CSRCs announced, none present
    expect(parseRtp(withCsrc)).toBeUndefined();
    const rtcp = Buffer.alloc(12);
    rtcp[0] = 0x80;
    rtcp[1] = 200; // SR: 200 & 0x7f = 72
    expect(parseRtp(rtcp)).toBeUndefined();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => void parseRtp(Buffer.from(a))), { numRuns: 5000 });
  });

  it('telephone-events: # with the end bit, digits both ways', () => {
    const e = { event: 11, end: true, volume: 10, duration: 800 };
    expect(parseTelephoneEvent(buildTelephoneEvent(e))).toEqual(e);
    expect(dtmfDigit(11)).toBe('#');
    expect(dtmfDigit(10)).toBe('*');
    expect(dtmfDigit(40)).toBeUndefined();
    expect(dtmfEvent('7')).toBe(7);
    expect(parseTelephoneEvent(Buffer.alloc(3))).toBeUndefined();
    expect(parseTelephoneEvent(Buffer.alloc(5))).toBeUndefined();
  });

  it('G.711 matches the reference values and round-trips its own codes', () => {
    // ITU-T G.711 / Sun g711.c reference points
    expect(linearToUlaw(0)).toBe(0xff);
    expect(linearToUlaw(-1)).toBe(0x7f);
    expect(linearToUlaw(32767)).toBe(0x80);
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(ulawToLinear(0x80)).toBe(32124);
    expect(alawToLinear(0xaa)).toBe(32256);
    for (let c = 0; c < 256; c++) {
      expect(linearToUlaw(ulawToLinear(c)), `ulaw ${c}`).toBe(c === 0x7f ? 0xff : c);
      expect(linearToAlaw(alawToLinear(c)), `alaw ${c}`).toBe(c);
    }
    const tone = tones([[1000, 20]]);
    const back = decodeG711('PCMU', encodeG711('PCMU', tone));
    for (let i = 0; i < tone.length; i++) expect(Math.abs(back[i]! - tone[i]!)).toBeLessThanOrEqual(Math.abs(tone[i]!) / 16 + 8);
  });
});

describe('voicemail package', () => {
  const meta = { messageId: newMessageId(), codec: 'PCMU' as const, to: 'bob@lab.example', from: '"Alice" <sip:alice@lab.example>', createdAt: '2026-01-01T00:00:00.000Z', rights: { mayForward: false, maxPlays: 3, expiresDays: 7 } };
  const audio = encodeG711('PCMU', tones([[440, 500], [880, 500]]));

  it('opens with its key to the same audio; header readable without the key; no plaintext inside', () => {
    const { pkg, contentKey } = sealPackage(audio, meta);
    expect(pkg.bytes.subarray(0, 4).toString()).toBe('KSVM');
    const { header } = readPackageHeader(pkg.bytes);
    expect(header).toMatchObject({ ...meta, v: 1, alg: 'A256GCM', durationMs: 1000, sampleRate: 8000 });
    expect(JSON.stringify(header)).not.toContain(contentKey.toString('base64url'));
    expect(openPackage(pkg.bytes, contentKey).audio.equals(audio)).toBe(true);
    expect(pkg.bytes.includes(audio.subarray(1000, 1032))).toBe(false);
  });

  it('a wrong key, a changed header byte or a changed ciphertext byte does not open', () => {
    const { pkg, contentKey } = sealPackage(audio, meta);
    const wrong = Buffer.from(contentKey);
    wrong[0]! ^= 1;
    expect(() => openPackage(pkg.bytes, wrong)).toThrow(PackageError);
    const { headerEnd } = readPackageHeader(pkg.bytes);
    const h = Buffer.from(pkg.bytes);
    const at = h.indexOf('"maxPlays":3');
    h[at + 11] = 0x39; // maxPlays 9
    expect(readPackageHeader(h).header.rights.maxPlays).toBe(9);
    expect(() => openPackage(h, contentKey)).toThrow(PackageError);
    const c = Buffer.from(pkg.bytes);
    c[headerEnd + 5]! ^= 0x80;
    expect(() => openPackage(c, contentKey)).toThrow(PackageError);
  });

  it('random and truncated bytes are refused with PackageError, never another throw', () => {
    const { pkg } = sealPackage(audio.subarray(0, 100), meta);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), fc.nat(pkg.bytes.length - 1).map((n) => pkg.bytes.subarray(0, n))), (b) => {
        try {
          readPackageHeader(b);
        } catch (err) {
          expect(err).toBeInstanceOf(PackageError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
