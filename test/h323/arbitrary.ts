/**
 * fast-check generators derived from a codec's spec, so every modelled RAS
 * type gets random values without a hand-written generator per type.
 */
import fc from 'fast-check';
import type { AnyCodec, Spec } from '../../src/h323/per/index.js';

export interface ArbOptions {
  /** Generate Opaque values and unknown extension additions / alternatives (random bytes). */
  opaque: boolean;
  /** Alternatives and components never generated (by name). */
  exclude?: ReadonlySet<string>;
  /** Longest SEQUENCE OF (beyond its minimum). */
  maxItems?: number;
  /**
   * Values Wireshark can show: unconstrained INTEGERs (RandomVal) in
   * -2^31..2^31-1 (it reads at most four octets), OID arcs below 2^32, and
   * printable OCTET STRINGs (it shows productId/versionId as text and warns
   * on control characters).
   */
  wireshark?: boolean;
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));

function bitStringArb(min: number, max: number) {
  return fc.integer({ min, max }).chain((n) =>
    bytes((n + 7) >>> 3, (n + 7) >>> 3).map((data) => {
      if (n & 7) data[data.length - 1]! &= 0xff << (8 - (n & 7));
      return { data, bitLength: n };
    }),
  );
}

const oidArb = (maxArc: number) =>
  fc
    .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: maxArc })), { maxLength: 6 }))
    .map(([a, b, rest]) => [a, a === 2 ? b * 7 : b, ...rest].join('.'));

/** The codec-spec kinds that can produce a value under `opts`. */
function usable(codec: AnyCodec, opts: ArbOptions): boolean {
  const k = codec.spec.kind;
  if (k === 'unsupported') return false;
  if (k === 'opaque' || k === 'open-type') return opts.opaque;
  return true;
}

export function arbitraryFor(codec: AnyCodec, opts: ArbOptions, depth = 0): fc.Arbitrary<unknown> {
  const spec: Spec = codec.spec;
  const maxItems = Math.max(0, (opts.maxItems ?? 2) - (depth > 6 ? 2 : 0));
  switch (spec.kind) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const root = fc.oneof(fc.constant(spec.lb), fc.constant(spec.ub), fc.integer({ min: 0, max: spec.ub - spec.lb }).map((n) => spec.lb + n));
      return spec.extensible ? fc.oneof(root, fc.integer()) : root;
    }
    case 'semi-integer':
      return fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat()).map((n) => spec.lb + n);
    case 'big-integer':
      if (opts.wireshark) return fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n - 1n });
      return fc.oneof(fc.bigInt({ min: -(2n ** 31n), max: 2n ** 32n }), fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }));
    case 'octets': {
      const max = Math.min(spec.max ?? spec.min + 40, spec.min + 40);
      if (opts.wireshark) return fc.string({ minLength: spec.min, maxLength: max, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }).map((t) => Buffer.from(t, 'latin1'));
      return bytes(spec.min, max);
    }
    case 'bits':
      return bitStringArb(spec.min, Math.min(spec.max ?? spec.min + 200, spec.min + 200));
    case 'chars': {
      const max = Math.min(spec.max ?? spec.min + 30, spec.min + 30);
      const ch =
        spec.alphabet !== undefined
          ? fc.constantFrom(...spec.alphabet)
          : spec.charset === 'ia5'
            ? fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c))
            : fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
      return fc.array(ch, { minLength: spec.min, maxLength: max }).map((a) => a.join(''));
    }
    case 'oid':
      return oidArb(opts.wireshark ? 2 ** 32 - 1 : Number.MAX_SAFE_INTEGER);
    case 'opaque':
      return bytes(1, 20).map((b) => ({ opaque: b }));
    case 'open-type':
      return bytes(1, 20);
    case 'unsupported':
      throw new Error('no values of an unsupported type');
    case 'lazy':
      return arbitraryFor(spec.get(), opts, depth + 1);
    case 'sequence-of': {
      const item = arbitraryFor(spec.item, opts, depth + 1);
      const max = Math.min(spec.max ?? spec.min + maxItems, spec.min + maxItems);
      return fc.array(item, { minLength: spec.min, maxLength: max });
    }
    case 'sequence': {
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      const required: string[] = [];
      const extCount = spec.ext?.length ?? 0;
      for (const c of spec.root) {
        if (opts.exclude?.has(c.name) && c.optional) continue;
        model[c.name] = arbitraryFor(c.codec, opts, depth + 1);
        if (!c.optional) required.push(c.name);
      }
      for (const c of spec.ext ?? []) {
        if (opts.exclude?.has(c.name) || !usable(c.codec, opts)) continue;
        model[c.name] = arbitraryFor(c.codec, opts, depth + 1);
      }
      if (spec.ext && opts.opaque) {
        model.unknownExtensions = fc
          .uniqueArray(fc.integer({ min: extCount, max: extCount + 70 }), { minLength: 1, maxLength: 2 })
          .chain((idx) => fc.tuple(...idx.sort((a, b) => a - b).map((index) => bytes(1, 12).map((data) => ({ index, data })))));
      }
      return fc.record(model, { requiredKeys: required });
    }
    case 'choice': {
      const alts: Array<fc.Arbitrary<unknown>> = [];
      for (const a of [...spec.root, ...(spec.ext ?? [])]) {
        if (opts.exclude?.has(a.name) || !usable(a.codec, opts)) continue;
        alts.push(arbitraryFor(a.codec, opts, depth + 1).map((value) => ({ type: a.name, value })));
      }
      if (spec.ext && opts.opaque) {
        const n = spec.ext.length;
        alts.push(fc.record({ type: fc.constant('unknownExtension'), index: fc.integer({ min: n, max: n + 70 }), data: bytes(1, 12) }));
      }
      return fc.oneof(...alts);
    }
  }
}
