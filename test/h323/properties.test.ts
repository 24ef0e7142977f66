/**
 * Round-trip and canonical-encoding properties over random values of every
 * modelled type: decode(encode(x)) = x, and encode(decode(b)) = b for every
 * b the codec produces. tshark is lenient (trailing bytes, padding bits,
 * out-of-range numbers), so these carry the strictness.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AliasAddress,
  ClearToken,
  CryptoH323Token,
  EndpointType,
  RasMessage,
  TransportAddress,
  decodeRas,
  encodeRas,
  type RasMessage as RasMessageT,
} from '../../src/h323/index.js';
import { decodePer, encodePer, type AnyCodec } from '../../src/h323/per/index.js';
import { arbitraryFor } from './arbitrary.js';

function roundTrips(codec: AnyCodec, value: unknown): void {
  const bytes = encodePer(codec, value);
  const back = decodePer(codec, bytes);
  if (!back.ok) throw new Error(`${back.error.code} at ${back.error.path}: ${back.error.message}`);
  expect(back.value).toEqual(value);
  expect(encodePer(codec, back.value)).toEqual(bytes);
}

describe('round trip and canonical encoding', () => {
  const types: Array<[string, AnyCodec, number]> = [
    ['TransportAddress', TransportAddress, 300],
    ['AliasAddress', AliasAddress, 300],
    ['ClearToken', ClearToken, 300],
    ['CryptoH323Token', CryptoH323Token, 300],
    ['EndpointType', EndpointType, 200],
  ];
  for (const [name, codec, numRuns] of types) {
    it(`${name}: decode(encode(x)) = x and encode(decode(b)) = b, opaque and unknown extensions included`, () => {
      fc.assert(fc.property(arbitraryFor(codec, { opaque: true }), (v) => roundTrips(codec, v)), { numRuns });
    });
  }

  it('RasMessage: every modelled message, with opaque additions and unknown extensions', () => {
    fc.assert(
      fc.property(arbitraryFor(RasMessage, { opaque: true }) as fc.Arbitrary<RasMessageT>, (m) => {
        const bytes = encodeRas(m);
        const back = decodeRas(bytes);
        if (!back.ok) throw new Error(`${back.error.code} at ${back.error.path}: ${back.error.message}`);
        expect(back.message).toEqual(m);
        expect(encodeRas(back.message)).toEqual(bytes);
      }),
      { numRuns: 400 },
    );
  });

  it('RasMessage without opaque parts: every modelled field through the codec', () => {
    fc.assert(fc.property(arbitraryFor(RasMessage, { opaque: false, maxItems: 3 }), (m) => roundTrips(RasMessage, m)), { numRuns: 300 });
  });
});
