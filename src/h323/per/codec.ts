/**
 * The codec contract every PER type implements, and the two entry points.
 * decodePer never throws: a hostile or broken encoding becomes a failure
 * result. encodePer throws PerEncodeError for values outside their type.
 */
import { BitReader, BitWriter } from './bits.js';
import { PerDecodeError, PerEncodeError, type PerDecodeFailure } from './errors.js';

/** Where a value sat in an encoding: absolute bit offset and length in bits. */
export interface Position {
  bitOffset: number;
  bitLength: number;
}

export interface EncodeContext {
  /** Component names down to the value being encoded (for error messages). */
  path: string[];
}

export interface DecodeContext {
  depth: number;
  /** Filled for BIT STRING and OCTET STRING values read from the input buffer itself. */
  positions: WeakMap<object, Position>;
}

/** A description of the type, for introspection (tests derive generators from it). */
export type Spec =
  | { kind: 'null' }
  | { kind: 'boolean' }
  | { kind: 'integer'; lb: number; ub: number; extensible: boolean }
  | { kind: 'semi-integer'; lb: number }
  | { kind: 'big-integer' }
  | { kind: 'octets'; min: number; max?: number }
  | { kind: 'bits'; min: number; max?: number }
  | { kind: 'chars'; charset: 'ia5' | 'bmp'; min: number; max?: number; alphabet?: string }
  | { kind: 'oid' }
  | { kind: 'sequence'; name: string; root: ComponentSpec[]; ext?: ComponentSpec[] }
  | { kind: 'choice'; name: string; root: AlternativeSpec[]; ext?: AlternativeSpec[] }
  | { kind: 'sequence-of'; item: AnyCodec; min: number; max?: number }
  | { kind: 'opaque' }
  | { kind: 'open-type' }
  | { kind: 'unsupported' }
  | { kind: 'lazy'; get: () => AnyCodec };

export interface ComponentSpec {
  name: string;
  codec: AnyCodec;
  optional: boolean;
}

export interface AlternativeSpec {
  name: string;
  codec: AnyCodec;
}

export interface Codec<T> {
  readonly spec: Spec;
  /** A lower bound on the bits any value of the type takes (guards counts). */
  readonly minBits: number;
  encode(w: BitWriter, value: T, cx: EncodeContext): void;
  decode(r: BitReader, cx: DecodeContext): T;
}

export type AnyCodec = Codec<any>;

/** Deeper nesting than this is refused (only lazily defined types can recurse). */
export const MAX_DEPTH = 48;

export function pathOf(cx: EncodeContext): string {
  return cx.path.join('.');
}

export type PerResult<T> = { ok: true; value: T; positions: WeakMap<object, Position> } | { ok: false; error: PerDecodeFailure };

/** Decodes one complete encoding (X.691 clause 11: padded to an octet; nothing may follow). */
export function decodePer<T>(codec: Codec<T>, bytes: Uint8Array): PerResult<T> {
  const cx: DecodeContext = { depth: 0, positions: new WeakMap() };
  const r = new BitReader(bytes);
  try {
    if (bytes.length === 0) throw new PerDecodeError('truncated', 'empty input', 0);
    const value = codec.decode(r, cx);
    const used = (r.pos + 7) >>> 3;
    // An empty complete encoding is the single octet 0x00 (X.691 11.1).
    if (used < bytes.length && !(r.pos === 0 && bytes.length === 1)) {
      throw new PerDecodeError('trailing-data', `${bytes.length - used} octets after the value`, used * 8);
    }
    return { ok: true, value, positions: cx.positions };
  } catch (e) {
    return { ok: false, error: toFailure(e, r.pos) };
  }
}

export function toFailure(e: unknown, pos: number): PerDecodeFailure {
  if (e instanceof PerDecodeError) return { code: e.code, message: e.message, bitOffset: e.bitOffset, path: e.path.join('.') };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e), bitOffset: pos, path: '' };
}

export interface Encoded {
  bytes: Buffer;
  /** Positions of BIT STRING and OCTET STRING values in `bytes`. */
  positions: WeakMap<object, Position>;
}

/** Encodes one complete value: padded to an octet, an empty encoding becoming 0x00. */
export function encodePer<T>(codec: Codec<T>, value: T): Buffer {
  const w = new BitWriter(false);
  codec.encode(w, value, { path: [] });
  return w.bitLength === 0 ? Buffer.from([0]) : w.finish();
}

export function encodePerWithPositions<T>(codec: Codec<T>, value: T): Encoded {
  const w = new BitWriter();
  codec.encode(w, value, { path: [] });
  const positions = new WeakMap<object, Position>();
  for (const [obj, bitOffset, bitLength] of w.marks) positions.set(obj, { bitOffset, bitLength });
  return { bytes: w.bitLength === 0 ? Buffer.from([0]) : w.finish(), positions };
}

/** A copy of `bytes` with the bits at `pos` set to zero (e.g. a hash field before hashing). */
export function zeroBits(bytes: Uint8Array, pos: Position): Buffer {
  const out = Buffer.from(bytes);
  for (let i = pos.bitOffset; i < pos.bitOffset + pos.bitLength; i++) out[i >>> 3] &= ~(0x80 >>> (i & 7)) & 0xff;
  return out;
}

export { PerEncodeError };
