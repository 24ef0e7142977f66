/**
 * Whole numbers (X.691 clause 10): constrained, semi-constrained,
 * unconstrained (two's complement) and normally small; ALIGNED variant.
 */
import type { BitReader, BitWriter } from './bits.js';
import { PerDecodeError, PerEncodeError, type PathText } from './errors.js';

/** Bits for a bit-field holding 0..range-1 (range ≥ 1). */
export function bitsFor(range: number): number {
  let n = 0;
  while (2 ** n < range) n++;
  return n;
}

/** Octets of the minimal non-negative binary integer for `value` (at least 1). */
export function octetsFor(value: number): number {
  let n = 1;
  while (value >= 2 ** (8 * n)) n++;
  return n;
}

function writeUnsigned(w: BitWriter, value: number, octets: number): void {
  w.bits(value, octets * 8);
}

/** Largest magnitude this codec handles in a `number` whole number. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** 10.5: constrained whole number lb..ub (range > 64K uses the indefinite-length case). */
export function writeConstrained(w: BitWriter, value: number, lb: number, ub: number, path: PathText = ''): void {
  if (!Number.isSafeInteger(value) || value < lb || value > ub) {
    throw new PerEncodeError(`${value} outside ${lb}..${ub}`, path);
  }
  const range = ub - lb + 1;
  const v = value - lb;
  if (range === 1) return;
  if (range <= 255) return w.bits(v, bitsFor(range));
  if (range === 256) {
    w.align();
    return w.bits(v, 8);
  }
  if (range <= 65536) {
    w.align();
    return w.bits(v, 16);
  }
  const maxOctets = octetsFor(ub - lb);
  const len = octetsFor(v);
  writeConstrained(w, len, 1, maxOctets, path);
  w.align();
  writeUnsigned(w, v, len);
}

export function readConstrained(r: BitReader, lb: number, ub: number): number {
  const range = ub - lb + 1;
  const at = r.pos;
  let v: number;
  if (range === 1) return lb;
  if (range <= 255) v = r.bits(bitsFor(range));
  else if (range === 256) {
    r.align();
    v = r.bits(8);
  } else if (range <= 65536) {
    r.align();
    v = r.bits(16);
  } else {
    const len = readConstrained(r, 1, octetsFor(ub - lb));
    r.align();
    v = r.bits(len * 8);
  }
  if (v > ub - lb) throw new PerDecodeError('out-of-range', `${lb + v} outside ${lb}..${ub}`, at);
  return lb + v;
}

/** 10.9.3.5–7: an unconstrained length below 16K (fragments are the caller's). */
export function writeShortLength(w: BitWriter, n: number): void {
  w.align();
  if (n < 128) w.bits(n, 8);
  else if (n < 16384) w.bits(0x8000 | n, 16);
  else throw new PerEncodeError(`length ${n} needs fragmentation`, '');
}

export interface LengthField {
  n: number;
  /** A fragment of n = m × 16K items; another length follows the items. */
  fragment: boolean;
}

/** 10.9.3.5–8: an unconstrained length determinant (octet-aligned). */
export function readUnconstrainedLength(r: BitReader): LengthField {
  r.align();
  const at = r.pos;
  const first = r.bits(8);
  if ((first & 0x80) === 0) return { n: first, fragment: false };
  if ((first & 0xc0) === 0x80) return { n: ((first & 0x3f) << 8) | r.bits(8), fragment: false };
  const m = first & 0x3f;
  if (m < 1 || m > 4) throw new PerDecodeError('invalid-encoding', `fragment count ${m}`, at);
  return { n: m * 16384, fragment: true };
}

/** A length that must not be fragmented (OID, integers, bitmaps): up to 16K - 1. */
export function readShortLength(r: BitReader, what: string): number {
  const at = r.pos;
  const { n, fragment } = readUnconstrainedLength(r);
  if (fragment) throw new PerDecodeError('too-large', `${what}: fragmented length`, at);
  return n;
}

/** 10.7: semi-constrained whole number lb..MAX. */
export function writeSemiConstrained(w: BitWriter, value: number, lb: number, path: PathText = ''): void {
  if (!Number.isSafeInteger(value) || value < lb) throw new PerEncodeError(`${value} below ${lb}`, path);
  const v = value - lb;
  const len = octetsFor(v);
  writeShortLength(w, len);
  writeUnsigned(w, v, len);
}

export function readSemiConstrained(r: BitReader, lb: number): number {
  const at = r.pos;
  const len = readShortLength(r, 'semi-constrained whole number');
  if (len < 1) throw new PerDecodeError('invalid-encoding', 'empty whole number', at);
  r.need(len * 8, 'whole number');
  let v = 0;
  for (let i = 0; i < len; i++) {
    v = v * 256 + r.bits(8);
    if (v > MAX_SAFE) throw new PerDecodeError('too-large', 'whole number beyond 2^53', at);
  }
  return lb + v;
}

/** Octets of the shortest two's complement form of `v`. */
function twosComplement(v: bigint): Buffer {
  const out: number[] = [];
  let x = v;
  for (;;) {
    const byte = Number(BigInt.asUintN(8, x));
    out.unshift(byte);
    x >>= 8n;
    if ((x === 0n && (byte & 0x80) === 0) || (x === -1n && (byte & 0x80) !== 0)) break;
  }
  return Buffer.from(out);
}

/** Unconstrained integers longer than this are refused (RandomVal is 32-bit). */
export const MAX_INTEGER_OCTETS = 64;

/** 10.8: unconstrained whole number, two's complement, length in octets. */
export function writeUnconstrained(w: BitWriter, value: bigint, path: PathText = ''): void {
  if (typeof value !== 'bigint') throw new PerEncodeError('INTEGER value must be a bigint', path);
  const bytes = twosComplement(value);
  if (bytes.length > MAX_INTEGER_OCTETS) throw new PerEncodeError('integer too large', path);
  writeShortLength(w, bytes.length);
  w.octets(bytes);
}

export function readUnconstrained(r: BitReader): bigint {
  const at = r.pos;
  const len = readShortLength(r, 'integer');
  if (len < 1) throw new PerDecodeError('invalid-encoding', 'empty integer', at);
  if (len > MAX_INTEGER_OCTETS) throw new PerDecodeError('too-large', `integer of ${len} octets`, at);
  const bytes = r.octets(len);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return BigInt.asIntN(len * 8, v);
}

/** 10.6: normally small non-negative whole number (CHOICE extension index). */
export function writeNormallySmall(w: BitWriter, n: number): void {
  if (n < 64) {
    w.bit(0);
    w.bits(n, 6);
  } else {
    w.bit(1);
    writeSemiConstrained(w, n, 0);
  }
}

export function readNormallySmall(r: BitReader): number {
  if (r.bit() === 0) return r.bits(6);
  const at = r.pos;
  const n = readSemiConstrained(r, 0);
  if (n > 0xffff) throw new PerDecodeError('too-large', `extension index ${n}`, at);
  return n;
}

/** 10.9.3.4: normally small length (the extension-addition bitmap of a SEQUENCE, n ≥ 1). */
export function writeNormallySmallLength(w: BitWriter, n: number): void {
  if (n <= 64) {
    w.bit(0);
    w.bits(n - 1, 6);
  } else {
    w.bit(1);
    writeShortLength(w, n);
  }
}

export function readNormallySmallLength(r: BitReader): number {
  if (r.bit() === 0) return r.bits(6) + 1;
  const at = r.pos;
  const n = readShortLength(r, 'extension bitmap');
  if (n < 1) throw new PerDecodeError('invalid-encoding', 'empty extension bitmap', at);
  return n;
}
