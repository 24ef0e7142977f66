/**
 * SEQUENCE, CHOICE and SEQUENCE OF (X.691 clauses 19, 20, 23) with extension
 * markers. Extension additions and extension alternatives travel as open
 * types (10.2): a length and the complete encoding of the value, so a decoder
 * can skip what it does not know. Those are kept as opaque bytes and written
 * back unchanged.
 */
import { BitReader, BitWriter } from './bits.js';
import { MAX_DEPTH, pathOf, type AnyCodec, type Codec, type ComponentSpec, type DecodeContext, type EncodeContext } from './codec.js';
import { PerDecodeError, PerEncodeError } from './errors.js';
import {
  bitsFor,
  readConstrained,
  readNormallySmall,
  readNormallySmallLength,
  readUnconstrainedLength,
  writeConstrained,
  writeNormallySmall,
  writeNormallySmallLength,
  writeShortLength,
} from './integers.js';
import { K16, isConstrainedLength, readCounted, writeCounted, type Size } from './length.js';

/** An extension addition this codec does not know, kept as its open-type contents. */
export interface UnknownExtension {
  /** Position among the extension additions (0 = the first addition). */
  index: number;
  data: Buffer;
}

/** A CHOICE extension alternative this codec does not know. */
export interface UnknownAlternative {
  type: 'unknownExtension';
  /** Position among the extension alternatives (0 = the first). */
  index: number;
  data: Buffer;
}

/** A known extension addition or alternative that the codec does not model: its encoding, as is. */
export interface Opaque {
  opaque: Buffer;
}

/** Only valid as an extension addition or extension alternative (inside an open type). */
export const OPAQUE: Codec<Opaque> = {
  spec: { kind: 'opaque' },
  minBits: 8,
  encode(_w, _v, cx) {
    throw new PerEncodeError('an opaque value can only stand in an open type', pathOf(cx));
  },
  decode(r) {
    throw new PerDecodeError('internal', 'an opaque value can only stand in an open type', r.pos);
  },
};

// ---- open types -------------------------------------------------------------

function writeOpenBytes(w: BitWriter, bytes: Uint8Array, inner?: BitWriter): void {
  let done = 0;
  while (bytes.length - done >= K16) {
    const m = Math.min(4, Math.floor((bytes.length - done) / K16));
    w.align();
    w.bits(0xc0 | m, 8);
    w.octets(bytes.subarray(done, done + m * K16));
    done += m * K16;
  }
  writeShortLength(w, bytes.length - done);
  if (inner && done === 0) w.embed(inner, bytes);
  else w.octets(bytes.subarray(done));
}

/** Writes `value` as an open type: length, then its complete encoding. */
export function writeOpenType(w: BitWriter, codec: AnyCodec, value: unknown, cx: EncodeContext): void {
  if (codec === OPAQUE) {
    const data = (value as Opaque)?.opaque;
    if (!Buffer.isBuffer(data) || data.length === 0) throw new PerEncodeError('opaque value needs at least one octet', pathOf(cx));
    return writeOpenBytes(w, data);
  }
  const inner = new BitWriter(w.tracking);
  codec.encode(inner, value, cx);
  writeOpenBytes(w, inner.bitLength === 0 ? Buffer.from([0]) : inner.finish(), inner);
}

/** Reads an open type's contents: a window on the input, or a reassembled copy if fragmented. */
export function readOpenType(r: BitReader): BitReader {
  const at = r.pos;
  const first = readUnconstrainedLength(r);
  if (!first.fragment) {
    if (first.n === 0) throw new PerDecodeError('invalid-encoding', 'empty open type', at);
    return r.window(first.n);
  }
  const parts: Buffer[] = [];
  let next = first;
  for (;;) {
    parts.push(r.octets(next.n));
    if (!next.fragment) break;
    next = readUnconstrainedLength(r);
  }
  const whole = Buffer.concat(parts);
  return new BitReader(whole, 0, whole.length * 8, false);
}

/** Decodes `codec` from an open type's contents, which it must fill exactly (up to padding). */
function decodeOpen<T>(inner: BitReader, codec: Codec<T>, cx: DecodeContext): T {
  const value = codec.decode(inner, cx);
  const used = inner.pos - inner.start;
  const size = inner.end - inner.start;
  const fits = used === 0 ? size === 8 : ((used + 7) & ~7) === size;
  if (!fits) throw new PerDecodeError('invalid-encoding', `open type of ${size / 8} octets holds ${used} bits`, inner.pos);
  return value;
}

function readOpenValue(r: BitReader, codec: AnyCodec, cx: DecodeContext): unknown {
  const inner = readOpenType(r);
  if (codec === OPAQUE) return { opaque: inner.octets((inner.end - inner.start) >>> 3) } satisfies Opaque;
  return decodeOpen(inner, codec, cx);
}

function rawOpenBytes(r: BitReader): Buffer {
  const inner = readOpenType(r);
  return inner.octets((inner.end - inner.start) >>> 3);
}

// ---- helpers ----------------------------------------------------------------

function enter(cx: DecodeContext, r: BitReader): void {
  if (++cx.depth > MAX_DEPTH) throw new PerDecodeError('too-large', 'nesting too deep', r.pos);
}

function withPath<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PerDecodeError) e.path.unshift(name);
    throw e;
  }
}

function encodeIn(cx: EncodeContext, name: string, fn: () => void): void {
  cx.path.push(name);
  fn();
  cx.path.pop();
}

// ---- SEQUENCE ---------------------------------------------------------------

/** A component of a SEQUENCE whose value type is T: its name, codec and whether it is OPTIONAL. */
export type Component<T> = {
  [K in keyof T & string]-?: { name: K; codec: Codec<Exclude<T[K], undefined>>; optional: boolean };
}[keyof T & string];

/** A mandatory component. */
export function field<K extends string, V>(name: K, codec: Codec<V>): { name: K; codec: Codec<V>; optional: false } {
  return { name, codec, optional: false };
}

/** An OPTIONAL component. */
export function optional<K extends string, V>(name: K, codec: Codec<V>): { name: K; codec: Codec<V>; optional: true } {
  return { name, codec, optional: true };
}

/**
 * SEQUENCE { root..., [..., ext...] }. `ext` undefined means no extension
 * marker. Every extension addition is present when its value is defined
 * (mandatory additions too: an older peer's message lacks them). The
 * encoder's bitmap stops at the last addition present, the usual practice
 * of H.323 stacks; any length is accepted when decoding. Values of
 * extensible types may carry `unknownExtensions`, written back as they came.
 */
export function sequence<T extends object>(name: string, root: Array<Component<T>>, ext?: Array<Component<T>>): Codec<T> {
  const extensible = ext !== undefined;
  const additions = ext ?? [];
  const optionals = root.filter((c) => c.optional);
  const minBits = (extensible ? 1 : 0) + optionals.length + root.filter((c) => !c.optional).reduce((s, c) => s + c.codec.minBits, 0);
  const specs: ComponentSpec[] = root.map((c) => ({ name: c.name, codec: c.codec as AnyCodec, optional: c.optional }));
  const extSpecs: ComponentSpec[] | undefined = ext?.map((c) => ({ name: c.name, codec: c.codec as AnyCodec, optional: c.optional }));
  return {
    spec: { kind: 'sequence', name, root: specs, ext: extSpecs },
    minBits,
    encode(w, value, cx) {
      const v = value as Record<string, unknown>;
      if (typeof v !== 'object' || v === null) throw new PerEncodeError(`${name} must be an object`, pathOf(cx));
      const unknown = (extensible ? (v.unknownExtensions as UnknownExtension[] | undefined) : undefined) ?? [];
      // Slots of the extension bitmap, known additions and unknown ones together.
      const slots = new Map<number, () => void>();
      additions.forEach((c, i) => {
        if (v[c.name] !== undefined) slots.set(i, () => encodeIn(cx, c.name, () => writeOpenType(w, c.codec, v[c.name], cx)));
      });
      for (const u of unknown) {
        if (!Number.isInteger(u.index) || u.index < additions.length || slots.has(u.index) || !Buffer.isBuffer(u.data) || u.data.length === 0) {
          throw new PerEncodeError(`${name}: bad unknown extension ${u.index}`, pathOf(cx));
        }
        slots.set(u.index, () => writeOpenBytes(w, u.data));
      }
      if (extensible) w.bit(slots.size > 0);
      for (const c of optionals) w.bit(v[c.name] !== undefined);
      for (const c of root) {
        const fv = v[c.name];
        if (fv === undefined) {
          if (!c.optional) throw new PerEncodeError(`${name}.${c.name} is required`, pathOf(cx));
          continue;
        }
        encodeIn(cx, c.name, () => c.codec.encode(w, fv as never, cx));
      }
      if (slots.size === 0) return;
      const n = Math.max(...slots.keys()) + 1;
      writeNormallySmallLength(w, n);
      for (let i = 0; i < n; i++) w.bit(slots.has(i));
      for (let i = 0; i < n; i++) slots.get(i)?.();
    },
    decode(r, cx) {
      enter(cx, r);
      const out: Record<string, unknown> = {};
      const hasExt = extensible ? r.bit() === 1 : false;
      const present = new Set<string>();
      for (const c of optionals) if (r.bit()) present.add(c.name);
      for (const c of root) {
        if (c.optional && !present.has(c.name)) continue;
        out[c.name] = withPath(c.name, () => c.codec.decode(r, cx));
      }
      if (hasExt) {
        const n = readNormallySmallLength(r);
        r.need(n, 'extension bitmap');
        const bits: number[] = [];
        for (let i = 0; i < n; i++) bits.push(r.bit());
        const unknown: UnknownExtension[] = [];
        for (let i = 0; i < n; i++) {
          if (!bits[i]) continue;
          const c = additions[i];
          if (c) out[c.name] = withPath(c.name, () => readOpenValue(r, c.codec, cx));
          else unknown.push({ index: i, data: rawOpenBytes(r) });
        }
        if (unknown.length) out.unknownExtensions = unknown;
      }
      cx.depth--;
      return out as T;
    },
  };
}

// ---- CHOICE -----------------------------------------------------------------

/** An alternative of a CHOICE whose value type is the tagged union T. */
export type Alternative<T extends { type: string }> = {
  [K in Exclude<T['type'], 'unknownExtension'>]: { name: K; codec: Codec<Extract<T, { type: K }> extends { value: infer V } ? V : never> };
}[Exclude<T['type'], 'unknownExtension'>];

export function alt<K extends string, V>(name: K, codec: Codec<V>): { name: K; codec: Codec<V> } {
  return { name, codec };
}

/**
 * CHOICE { root..., [..., ext...] } as `{ type, value }`. An extension
 * alternative the codec does not know decodes as `{ type: 'unknownExtension',
 * index, data }` and is written back as it came.
 */
export function choice<T extends { type: string }>(name: string, root: Array<Alternative<T>>, ext?: Array<Alternative<T>>): Codec<T> {
  const extensible = ext !== undefined;
  const additions = ext ?? [];
  const rootIndex = new Map(root.map((a, i) => [a.name as string, i]));
  const extIndex = new Map(additions.map((a, i) => [a.name as string, i]));
  const indexBits = bitsFor(root.length);
  return {
    spec: {
      kind: 'choice',
      name,
      root: root.map((a) => ({ name: a.name, codec: a.codec as AnyCodec })),
      ext: ext?.map((a) => ({ name: a.name, codec: a.codec as AnyCodec })),
    },
    // An extension alternative takes at least 1 + 7 (normally small index) + 8 (length) + 8 (one octet) bits,
    // which can be less than the smallest root alternative: a count guard must not refuse it.
    minBits: Math.min((extensible ? 1 : 0) + indexBits + Math.min(...root.map((a) => a.codec.minBits)), extensible ? 24 : Infinity),
    encode(w, value, cx) {
      const v = value as { type: string; value?: unknown; index?: number; data?: Buffer };
      if (typeof v !== 'object' || v === null) throw new PerEncodeError(`${name} must be an object`, pathOf(cx));
      const ri = rootIndex.get(v.type);
      if (ri !== undefined) {
        if (extensible) w.bit(0);
        if (root.length > 1) writeConstrained(w, ri, 0, root.length - 1);
        return encodeIn(cx, v.type, () => root[ri]!.codec.encode(w, v.value as never, cx));
      }
      const ei = extIndex.get(v.type);
      if (extensible && ei !== undefined) {
        w.bit(1);
        writeNormallySmall(w, ei);
        return encodeIn(cx, v.type, () => writeOpenType(w, additions[ei]!.codec, v.value, cx));
      }
      if (extensible && v.type === 'unknownExtension') {
        if (!Number.isInteger(v.index) || v.index! < additions.length || !Buffer.isBuffer(v.data) || v.data.length === 0) {
          throw new PerEncodeError(`${name}: bad unknown alternative`, pathOf(cx));
        }
        w.bit(1);
        writeNormallySmall(w, v.index!);
        return writeOpenBytes(w, v.data);
      }
      throw new PerEncodeError(`${name} has no alternative ${String(v.type)}`, pathOf(cx));
    },
    decode(r, cx) {
      enter(cx, r);
      let out: T;
      if (extensible && r.bit() === 1) {
        const i = readNormallySmall(r);
        const a = additions[i];
        if (a) out = { type: a.name, value: withPath(a.name, () => readOpenValue(r, a.codec, cx)) } as unknown as T;
        else out = { type: 'unknownExtension', index: i, data: rawOpenBytes(r) } satisfies UnknownAlternative as unknown as T;
      } else {
        const i = root.length > 1 ? readConstrained(r, 0, root.length - 1) : 0;
        const a = root[i]!;
        out = { type: a.name, value: withPath(a.name, () => a.codec.decode(r, cx)) } as unknown as T;
      }
      cx.depth--;
      return out;
    },
  };
}

// ---- SEQUENCE OF ------------------------------------------------------------

/** Without a bound on the bits an item takes, a count above this is refused. */
const MAX_ZERO_BIT_ITEMS = 1024;

/** SEQUENCE [SIZE (min..max[, ...])] OF item; with `extensible`, only sizes within the root are supported. */
export function sequenceOf<T>(item: Codec<T>, min = 0, max?: number, opts: { extensible?: boolean } = {}): Codec<T[]> {
  const extensible = opts.extensible ?? false;
  const size: Size = { min, max };
  const fixed = max !== undefined && min === max && max < 65536;
  return {
    spec: { kind: 'sequence-of', item, min, max },
    get minBits() {
      return (extensible ? 1 : 0) + (fixed ? 0 : isConstrainedLength(size) ? bitsFor(max! - min + 1) : 8) + min * item.minBits;
    },
    encode(w, list, cx) {
      if (!Array.isArray(list)) throw new PerEncodeError('SEQUENCE OF needs an array', pathOf(cx));
      const one = (i: number) => encodeIn(cx, String(i), () => item.encode(w, list[i]!, cx));
      if (extensible) {
        if (list.length < min || (max !== undefined && list.length > max)) {
          throw new PerEncodeError('sizes outside the extension root are not supported', pathOf(cx));
        }
        w.bit(0);
      }
      if (fixed) {
        if (list.length !== min) throw new PerEncodeError(`size ${list.length}, expected ${min}`, pathOf(cx));
        for (let i = 0; i < min; i++) one(i);
        return;
      }
      writeCounted(w, list.length, size, () => pathOf(cx), (from, to) => {
        for (let i = from; i < to; i++) one(i);
      });
    },
    decode(r, cx) {
      enter(cx, r);
      const out: T[] = [];
      if (extensible && r.bit() === 1) throw new PerDecodeError('unsupported', 'SEQUENCE OF size outside the extension root', r.pos - 1);
      const unit = item.minBits;
      const run = (n: number) => {
        if (unit === 0 && out.length + n > MAX_ZERO_BIT_ITEMS) throw new PerDecodeError('too-large', `${n} items`, r.pos);
        for (let i = 0; i < n; i++) out.push(withPath(String(out.length), () => item.decode(r, cx)));
      };
      if (fixed) {
        if (min * unit > r.remaining) throw new PerDecodeError('truncated', `${min} items cannot fit`, r.pos);
        run(min);
      } else readCounted(r, size, unit, 'SEQUENCE OF', run);
      cx.depth--;
      return out;
    },
  };
}

/**
 * An open type field in the root of a SEQUENCE (e.g. TYPE-IDENTIFIER.&Type):
 * its contents as bytes, to be decoded (or signed) by whoever knows the type.
 */
export const OPEN_TYPE: Codec<Buffer> = {
  spec: { kind: 'open-type' },
  minBits: 16,
  encode(w, v, cx) {
    if (!Buffer.isBuffer(v) || v.length === 0) throw new PerEncodeError('open type contents need at least one octet', pathOf(cx));
    writeOpenBytes(w, v);
  },
  decode(r) {
    return rawOpenBytes(r);
  },
};

/** A root alternative the codec knows of but does not model: decoding it fails with 'unsupported'. */
export function unsupported(name: string): Codec<never> {
  return {
    spec: { kind: 'unsupported' },
    minBits: 0,
    encode(_w, _v, cx) {
      throw new PerEncodeError(`${name} is not supported`, pathOf(cx));
    },
    decode(r) {
      throw new PerDecodeError('unsupported', `${name} is not supported`, r.pos);
    },
  };
}

/** A type defined later (for recursive definitions). */
export function lazy<T>(get: () => Codec<T>): Codec<T> {
  return {
    spec: { kind: 'lazy', get },
    minBits: 0,
    encode: (w, v, cx) => get().encode(w, v, cx),
    decode: (r, cx) => get().decode(r, cx),
  };
}
