/**
 * Hostile datagrams: truncation, lengths and counts past the end, random
 * bits, bit flips. The decoder must answer a result (never throw), refuse a
 * length before reading or allocating for it, and whatever it accepts must
 * encode and decode again to the same value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RasMessage, decodeRas, encodeRas, type RasMessage as RasMessageT } from '../../src/h323/index.js';
import { BitWriter, type AnyCodec } from '../../src/h323/per/index.js';
import { arbitraryFor } from './arbitrary.js';
import { sampleMessages } from './samples.js';

const CODES = new Set(['truncated', 'out-of-range', 'invalid-encoding', 'too-large', 'unsupported', 'trailing-data']);

/** Decodes without throwing; whatever is accepted is stable under encode → decode. */
function probe(bytes: Uint8Array): 'accepted' | 'refused' {
  let r: ReturnType<typeof decodeRas>;
  expect(() => (r = decodeRas(bytes))).not.toThrow();
  if (!r!.ok) {
    expect(CODES.has(r!.error.code), `${r!.error.code}: ${r!.error.message}`).toBe(true);
    return 'refused';
  }
  const again = encodeRas(r!.message);
  const back = decodeRas(again);
  expect(back.ok).toBe(true);
  if (back.ok) expect(back.message).toEqual(r!.message);
  return 'accepted';
}

const samples = sampleMessages().map((s) => ({ ...s, bytes: encodeRas(s.message) }));

describe('RAS decoder under hostile input', () => {
  it('every truncation of every sample message is refused, never thrown', () => {
    for (const { name, bytes } of samples) {
      for (let k = 0; k < bytes.length; k++) {
        expect(probe(bytes.subarray(0, k)), `${name} cut at ${k}`).toBe('refused');
      }
    }
  });

  it('every octet of every sample replaced by length-like values: no throw, anything accepted is stable', () => {
    let refused = 0;
    for (const { bytes } of samples) {
      for (let i = 0; i < bytes.length; i++) {
        for (const v of [0x00, 0x7f, 0x80, 0xbf, 0xc1, 0xc4, 0xff]) {
          const m = Buffer.from(bytes);
          m[i] = v;
          if (probe(m) === 'refused') refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('every single bit flip of every sample: no throw, anything accepted is stable', () => {
    for (const { bytes } of samples) {
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const m = Buffer.from(bytes);
        m[bit >>> 3]! ^= 0x80 >>> (bit & 7);
        probe(m);
      }
    }
  });

  it('random bytes, and valid messages with a random tail', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void probe(b)), { numRuns: 3000 });
    const valid = arbitraryFor(RasMessage, { opaque: true }) as fc.Arbitrary<RasMessageT>;
    fc.assert(
      fc.property(valid, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 }), (m, cut, tail) => {
        const b = encodeRas(m);
        const at = cut % b.length;
        probe(Buffer.concat([b.subarray(0, at), Buffer.from(tail)]));
      }),
      { numRuns: 1500 },
    );
  });
});

/** A URQ whose callSignalAddress announces `count` (a raw length determinant) then stops. */
function urqWithCount(lengthOctets: number[], tail: number[] = [0, 0, 0, 0]): Buffer {
  const w = new BitWriter();
  w.bit(0); // RasMessage: root alternative
  w.bits(6, 5); // unregistrationRequest
  w.bit(0); // URQ: no extensions
  w.bits(0, 3); // endpointAlias, nonStandardData, endpointIdentifier absent
  w.align();
  w.bits(41, 16); // requestSeqNum 42
  for (const o of lengthOctets) w.bits(o, 8);
  for (const o of tail) w.bits(o, 8);
  return w.finish();
}

describe('hostile lengths and counts are refused before anything is read for them', () => {
  it('a SEQUENCE OF announcing 16383 addresses in a 10-octet datagram', () => {
    const r = decodeRas(urqWithCount([0xbf, 0xff]));
    expect(r).toMatchObject({ ok: false, error: { code: 'truncated', path: 'unregistrationRequest.callSignalAddress' } });
    if (!r.ok) expect(r.error.message).toMatch(/cannot fit/);
  });

  it('a fragmented count of 64K items', () => {
    const r = decodeRas(urqWithCount([0xc4]));
    expect(r).toMatchObject({ ok: false, error: { code: 'truncated' } });
    if (!r.ok) expect(r.error.message).toMatch(/cannot fit/);
  });

  it('a fragment header with a bad count, and a count with nothing behind it', () => {
    expect(decodeRas(urqWithCount([0xc5]))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
    expect(decodeRas(urqWithCount([0x02], []))).toMatchObject({ ok: false, error: { code: 'truncated' } });
  });

  it('an h323-ID claiming 256 characters (512 octets) in a short datagram', () => {
    const good = encodeRas({
      type: 'unregistrationRequest',
      value: { requestSeqNum: 1, callSignalAddress: [], endpointAlias: [{ type: 'h323-ID', value: 'a' }] },
    });
    // …, SEQUENCE OF count 01, AliasAddress choice 0 1 + pad, BMP length octet (n-1), 00 61.
    const lenAt = good.length - 3;
    expect(good[lenAt]).toBe(0);
    const bad = Buffer.from(good);
    bad[lenAt] = 0xff;
    const r = decodeRas(bad);
    expect(r).toMatchObject({ ok: false, error: { code: 'truncated', path: 'unregistrationRequest.endpointAlias.0.h323-ID' } });
    if (!r.ok) expect(r.error.message).toMatch(/cannot fit/);
  });

  it('an open type (extension addition) longer than the datagram', () => {
    const good = encodeRas({ type: 'unregistrationConfirm', value: { requestSeqNum: 1, genericData: { opaque: Buffer.from([1, 2, 3]) } } });
    const bad = Buffer.from(good);
    bad[bad.length - 4] = 0x7f; // the open type's length
    expect(decodeRas(bad)).toMatchObject({ ok: false, error: { code: 'truncated' } });
  });

  it('input cannot drive recursion: no RAS type is defined through itself, and nesting is bounded', () => {
    const depthOf = new Map<AnyCodec, number>();
    const depth = (c: AnyCodec): number => {
      const s = c.spec;
      expect(s.kind).not.toBe('lazy');
      const known = depthOf.get(c);
      if (known !== undefined) return known;
      const kids =
        s.kind === 'sequence' || s.kind === 'choice' ? [...s.root, ...(s.ext ?? [])].map((x) => x.codec)
        : s.kind === 'sequence-of' ? [s.item]
        : [];
      const d = 1 + Math.max(0, ...kids.map(depth));
      depthOf.set(c, d);
      return d;
    };
    expect(depth(RasMessage)).toBeLessThan(48);
  });
});
