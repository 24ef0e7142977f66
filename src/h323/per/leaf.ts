/**
 * Simple types: NULL, BOOLEAN, INTEGER, OCTET STRING, BIT STRING,
 * IA5String, BMPString and OBJECT IDENTIFIER (X.691 clauses 12–17, 24, 27).
 */
import type { BitReader, BitWriter } from './bits.js';
import { pathOf, type Codec, type DecodeContext } from './codec.js';
import { PerDecodeError, PerEncodeError, type PathText } from './errors.js';
import {
  bitsFor,
  octetsFor,
  readConstrained,
  readShortLength,
  readUnconstrained,
  readSemiConstrained,
  writeConstrained,
  writeSemiConstrained,
  writeShortLength,
  writeUnconstrained,
} from './integers.js';
import { isConstrainedLength, readCounted, writeCounted, type Size } from './length.js';

export const NULL: Codec<null> = {
  spec: { kind: 'null' },
  minBits: 0,
  encode() {},
  decode() {
    return null;
  },
};

export const BOOLEAN: Codec<boolean> = {
  spec: { kind: 'boolean' },
  minBits: 1,
  encode(w, v, cx) {
    if (typeof v !== 'boolean') throw new PerEncodeError('not a boolean', pathOf(cx));
    w.bit(v);
  },
  decode(r) {
    return r.bit() === 1;
  },
};

function constrainedBits(lb: number, ub: number): number {
  const range = ub - lb + 1;
  if (range <= 1) return 0;
  if (range <= 255) return bitsFor(range);
  if (range <= 65536) return range === 256 ? 8 : 16;
  return bitsFor(octetsFor(ub - lb)) + 8;
}

/** INTEGER (lb..ub) or INTEGER (lb..ub, ...). */
export function integer(lb: number, ub: number, opts: { extensible?: boolean } = {}): Codec<number> {
  const extensible = opts.extensible ?? false;
  return {
    spec: { kind: 'integer', lb, ub, extensible },
    minBits: (extensible ? 1 : 0) + constrainedBits(lb, ub),
    encode(w, v, cx) {
      if (!Number.isSafeInteger(v)) throw new PerEncodeError(`${v} is not an integer`, pathOf(cx));
      if (extensible) {
        const inRoot = v >= lb && v <= ub;
        w.bit(!inRoot);
        if (!inRoot) return writeUnconstrained(w, BigInt(v), () => pathOf(cx));
      }
      writeConstrained(w, v, lb, ub, () => pathOf(cx));
    },
    decode(r) {
      if (extensible && r.bit() === 1) {
        const at = r.pos;
        const big = readUnconstrained(r);
        if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new PerDecodeError('too-large', 'integer beyond 2^53', at);
        }
        return Number(big);
      }
      return readConstrained(r, lb, ub);
    },
  };
}

/** INTEGER (lb..MAX). */
export function semiInteger(lb: number): Codec<number> {
  return {
    spec: { kind: 'semi-integer', lb },
    minBits: 16,
    encode(w, v, cx) {
      writeSemiConstrained(w, v, lb, () => pathOf(cx));
    },
    decode(r) {
      return readSemiConstrained(r, lb);
    },
  };
}

/** INTEGER without constraint, as a bigint (two's complement on the wire). */
export const INTEGER: Codec<bigint> = {
  spec: { kind: 'big-integer' },
  minBits: 16,
  encode(w, v, cx) {
    writeUnconstrained(w, v, () => pathOf(cx));
  },
  decode(r) {
    return readUnconstrained(r);
  },
};

function sizeOk(n: number, size: Size): boolean {
  return n >= size.min && (size.max === undefined || n <= size.max);
}

function record(r: BitReader, cx: DecodeContext, value: object, bitOffset: number, bitLength: number): void {
  if (r.absolute) cx.positions.set(value, { bitOffset, bitLength });
}

/** OCTET STRING with an optional SIZE constraint. */
export function octetString(min = 0, max?: number): Codec<Buffer> {
  const size: Size = { min, max };
  const fixed = max !== undefined && min === max && max < 65536;
  return {
    spec: { kind: 'octets', min, max },
    minBits: fixed ? min * 8 : isConstrainedLength(size) ? constrainedBits(min, max!) + min * 8 : 8,
    encode(w, v, cx) {
      if (!Buffer.isBuffer(v)) throw new PerEncodeError('not a Buffer', pathOf(cx));
      if (fixed) {
        if (v.length !== min) throw new PerEncodeError(`size ${v.length}, expected ${min}`, pathOf(cx));
        if (min > 2) w.align();
        w.mark(v, min * 8);
        return w.octets(v);
      }
      writeCounted(w, v.length, size, () => pathOf(cx), (from, to) => {
        if (to === from) return;
        w.align();
        if (from === 0 && to === v.length) w.mark(v, v.length * 8);
        w.octets(v.subarray(from, to));
      });
    },
    decode(r, cx) {
      if (fixed) {
        if (min > 2) r.align();
        const at = r.pos;
        const out = r.octets(min);
        record(r, cx, out, at, min * 8);
        return out;
      }
      const parts: Buffer[] = [];
      let at = -1;
      readCounted(r, size, 8, 'OCTET STRING', (n) => {
        if (n === 0) return;
        r.align();
        if (at < 0) at = r.pos;
        parts.push(r.octets(n));
      });
      const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (parts.length <= 1) record(r, cx, out, at < 0 ? r.pos : at, out.length * 8);
      return out;
    },
  };
}

/** A BIT STRING value: `bitLength` bits, most significant first, unused low bits of the last octet zero. */
export interface BitString {
  data: Buffer;
  bitLength: number;
}

export function bitString(min = 0, max?: number): Codec<BitString> {
  const size: Size = { min, max };
  const fixed = max !== undefined && min === max && max < 65536;
  return {
    spec: { kind: 'bits', min, max },
    minBits: fixed ? min : isConstrainedLength(size) ? constrainedBits(min, max!) + min : 8,
    encode(w, v, cx) {
      const n = v?.bitLength;
      if (!Number.isSafeInteger(n) || n < 0 || !Buffer.isBuffer(v.data) || v.data.length !== (n + 7) >>> 3) {
        throw new PerEncodeError('BIT STRING needs data of ceil(bitLength / 8) octets', pathOf(cx));
      }
      if (n & 7 && v.data[v.data.length - 1]! & (0xff >>> (n & 7))) {
        throw new PerEncodeError('BIT STRING has bits set past bitLength', pathOf(cx));
      }
      if (fixed) {
        if (n !== min) throw new PerEncodeError(`size ${n}, expected ${min}`, pathOf(cx));
        if (min > 16) w.align();
        w.mark(v, n);
        return w.bitsFrom(v.data, n);
      }
      writeCounted(w, n, size, () => pathOf(cx), (from, to) => {
        if (to === from) return;
        w.align();
        if (from === 0 && to === n) w.mark(v, n);
        // Fragments hold multiples of 16K bits, so `from` is a whole octet.
        w.bitsFrom(v.data.subarray(from >>> 3), to - from);
      });
    },
    decode(r, cx) {
      if (fixed) {
        if (min > 16) r.align();
        const at = r.pos;
        const v = { data: r.bitsInto(min), bitLength: min };
        record(r, cx, v, at, min);
        return v;
      }
      const parts: Buffer[] = [];
      let at = -1;
      const total = readCounted(r, size, 1, 'BIT STRING', (n) => {
        if (n === 0) return;
        r.align();
        if (at < 0) at = r.pos;
        parts.push(r.bitsInto(n));
      });
      const v = { data: parts.length === 1 ? parts[0]! : Buffer.concat(parts), bitLength: total };
      if (parts.length <= 1) record(r, cx, v, at < 0 ? r.pos : at, total);
      return v;
    },
  };
}

/** Bits per character in the ALIGNED variant: the next power of two (27.5.2). */
function alignedCharBits(n: number): number {
  const b = bitsFor(n);
  for (const p of [1, 2, 4, 8, 16, 32]) if (b <= p) return p;
  return 32;
}

interface Charset {
  charset: 'ia5' | 'bmp';
  bits: number;
  /** Character code → value on the wire; undefined when not permitted. */
  toWire: (code: number) => number | undefined;
  fromWire: (v: number) => number | undefined;
}

function makeCharset(charset: 'ia5' | 'bmp', alphabet?: string): Charset {
  if (charset === 'bmp') return { charset, bits: 16, toWire: (c) => c, fromWire: (v) => v };
  if (alphabet === undefined) {
    return { charset, bits: 8, toWire: (c) => (c < 128 ? c : undefined), fromWire: (v) => (v < 128 ? v : undefined) };
  }
  const sorted = [...new Set([...alphabet].map((c) => c.charCodeAt(0)))].sort((a, b) => a - b);
  const bits = alignedCharBits(sorted.length);
  // 27.5.4: characters keep their codes when the largest fits in b bits, else take their index.
  if (sorted[sorted.length - 1]! <= 2 ** bits - 1) {
    const set = new Set(sorted);
    return { charset, bits, toWire: (c) => (set.has(c) ? c : undefined), fromWire: (v) => (set.has(v) ? v : undefined) };
  }
  const index = new Map(sorted.map((c, i) => [c, i]));
  return { charset, bits, toWire: (c) => index.get(c), fromWire: (v) => sorted[v] };
}

interface StringOptions {
  /** Permitted alphabet (FROM "..."). */
  alphabet?: string;
  /** SIZE (min..max, ...): only values within the root are supported. */
  extensible?: boolean;
}

function charString(charset: 'ia5' | 'bmp', min: number, max: number | undefined, opts: StringOptions): Codec<string> {
  const { alphabet, extensible = false } = opts;
  const cs = makeCharset(charset, alphabet);
  const b = cs.bits;
  const size: Size = { min, max };
  const fixed = max !== undefined && min === max && max < 65536;
  // 27.5.6–7: octet-aligned unless the longest string fits in 16 bits.
  const aligned = max === undefined || max * b > 16;
  const writeChars = (w: BitWriter, s: string, from: number, to: number, cx: { path: string[] }) => {
    for (let i = from; i < to; i++) {
      const v = cs.toWire(s.charCodeAt(i));
      if (v === undefined) throw new PerEncodeError(`character U+${s.charCodeAt(i).toString(16)} not permitted`, pathOf(cx));
      w.bits(v, b);
    }
  };
  const readChars = (r: BitReader, n: number, out: number[]) => {
    r.need(n * b, 'characters');
    for (let i = 0; i < n; i++) {
      const at = r.pos;
      const c = cs.fromWire(r.bits(b));
      if (c === undefined) throw new PerDecodeError('invalid-encoding', 'character outside the permitted alphabet', at);
      out.push(c);
    }
  };
  return {
    spec: { kind: 'chars', charset, min, max, alphabet },
    minBits: (extensible ? 1 : 0) + (fixed ? min * b : isConstrainedLength(size) ? constrainedBits(min, max!) + min * b : 8),
    encode(w, s, cx) {
      if (typeof s !== 'string') throw new PerEncodeError('not a string', pathOf(cx));
      if (extensible) {
        if (!sizeOk(s.length, size)) throw new PerEncodeError('sizes outside the extension root are not supported', pathOf(cx));
        w.bit(0);
      }
      if (fixed) {
        if (s.length !== min) throw new PerEncodeError(`size ${s.length}, expected ${min}`, pathOf(cx));
        if (aligned) w.align();
        return writeChars(w, s, 0, min, cx);
      }
      writeCounted(w, s.length, size, () => pathOf(cx), (from, to) => {
        if (to === from) return;
        if (aligned) w.align();
        writeChars(w, s, from, to, cx);
      });
    },
    decode(r) {
      const codes: number[] = [];
      if (extensible && r.bit() === 1) throw new PerDecodeError('unsupported', 'string size outside the extension root', r.pos - 1);
      if (fixed) {
        if (aligned) r.align();
        readChars(r, min, codes);
      } else {
        readCounted(r, size, b, 'character string', (n) => {
          if (n === 0) return;
          if (aligned) r.align();
          readChars(r, n, codes);
        });
      }
      let s = '';
      for (let i = 0; i < codes.length; i += 4096) s += String.fromCharCode(...codes.slice(i, i + 4096));
      return s;
    },
  };
}

/** IA5String, optionally with SIZE and a permitted alphabet (FROM "..."). */
export function ia5String(min = 0, max?: number, opts: StringOptions = {}): Codec<string> {
  return charString('ia5', min, max, opts);
}

/** BMPString (UCS-2, one UTF-16 code unit per character). */
export function bmpString(min = 0, max?: number): Codec<string> {
  return charString('bmp', min, max, {});
}

const OID_RE = /^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$/;

/** The few OIDs a stack sends are encoded once (bounded: a cache of values, not of every input). */
const OID_CACHE = new Map<string, Buffer>();

function oidContents(oid: string, path: PathText): Buffer {
  const hit = typeof oid === 'string' ? OID_CACHE.get(oid) : undefined;
  if (hit) return hit;
  const out = oidContentsOf(oid, path);
  if (OID_CACHE.size < 256) OID_CACHE.set(oid, out);
  return out;
}

function oidContentsOf(oid: string, path: PathText): Buffer {
  if (typeof oid !== 'string' || !OID_RE.test(oid)) throw new PerEncodeError(`invalid OBJECT IDENTIFIER ${String(oid)}`, path);
  const arcs = oid.split('.').map((a) => BigInt(a));
  if (arcs[0]! > 2n || (arcs[0]! < 2n && arcs[1]! >= 40n)) throw new PerEncodeError(`invalid OBJECT IDENTIFIER ${oid}`, path);
  const subs = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const sub of subs) {
    const groups: number[] = [];
    let x = sub;
    do {
      groups.unshift(Number(x & 0x7fn));
      x >>= 7n;
    } while (x > 0n);
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return Buffer.from(out);
}

/** OBJECT IDENTIFIER as dotted decimal; BER contents octets behind a length. */
export const OBJECT_IDENTIFIER: Codec<string> = {
  spec: { kind: 'oid' },
  minBits: 16,
  encode(w, oid, cx) {
    const contents = oidContents(oid, () => pathOf(cx));
    if (contents.length > 255) throw new PerEncodeError('OBJECT IDENTIFIER too long', pathOf(cx));
    writeShortLength(w, contents.length);
    w.octets(contents);
  },
  decode(r) {
    const at = r.pos;
    const len = readShortLength(r, 'OBJECT IDENTIFIER');
    if (len < 1) throw new PerDecodeError('invalid-encoding', 'empty OBJECT IDENTIFIER', at);
    if (len > 255) throw new PerDecodeError('too-large', 'OBJECT IDENTIFIER too long', at);
    const bytes = r.octets(len);
    const subs: bigint[] = [];
    let cur = 0n;
    let fresh = true;
    for (const b of bytes) {
      // X.690 8.19.2: no leading 0x80 octet in a subidentifier.
      if (fresh && b === 0x80) throw new PerDecodeError('invalid-encoding', 'OBJECT IDENTIFIER subidentifier not minimal', at);
      cur = (cur << 7n) | BigInt(b & 0x7f);
      fresh = (b & 0x80) === 0;
      if (fresh) {
        subs.push(cur);
        cur = 0n;
      }
    }
    if (!fresh) throw new PerDecodeError('invalid-encoding', 'OBJECT IDENTIFIER ends inside a subidentifier', at);
    const first = subs[0]!;
    const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
    return [...head, ...subs.slice(1)].join('.');
  },
};
