/**
 * Length determinants (X.691 10.9) around a run of items (octets, bits,
 * characters or components), including fragmentation in chunks of
 * m × 16K items for unbounded lengths.
 */
import type { BitReader, BitWriter } from './bits.js';
import { PerDecodeError, PerEncodeError, type PathText } from './errors.js';
import { readConstrained, readUnconstrainedLength, writeConstrained, writeShortLength } from './integers.js';

export const K16 = 16384;

/** A size constraint; `max` undefined means no upper bound. */
export interface Size {
  min: number;
  max?: number;
}

/** Whether the length is a constrained whole number (ub < 64K) rather than an unconstrained determinant. */
export function isConstrainedLength(size: Size): boolean {
  return size.max !== undefined && size.max < 65536;
}

/**
 * Writes the length of `count` items and the items themselves through
 * `writeRun(from, to)`, which also does the alignment its type needs.
 * Fixed sizes below 64K carry no length at all.
 */
export function writeCounted(w: BitWriter, count: number, size: Size, path: PathText, writeRun: (from: number, to: number) => void): void {
  if (count < size.min || (size.max !== undefined && count > size.max)) {
    throw new PerEncodeError(`size ${count} outside ${size.min}..${size.max ?? 'MAX'}`, path);
  }
  if (isConstrainedLength(size)) {
    writeConstrained(w, count, size.min, size.max!, path);
    writeRun(0, count);
    return;
  }
  let done = 0;
  while (count - done >= K16) {
    const m = Math.min(4, Math.floor((count - done) / K16));
    w.align();
    w.bits(0xc0 | m, 8);
    writeRun(done, done + m * K16);
    done += m * K16;
  }
  writeShortLength(w, count - done);
  writeRun(done, count);
}

/**
 * Reads a length and the items it announces. `readRun(n)` reads n items;
 * `unitBits` is the least number of bits one item takes, so that a hostile
 * length is refused before anything is read or allocated for it.
 */
export function readCounted(r: BitReader, size: Size, unitBits: number, what: string, readRun: (n: number) => void): number {
  const at = r.pos;
  if (isConstrainedLength(size)) {
    const n = readConstrained(r, size.min, size.max!);
    checkRoom(r, n, unitBits, what);
    readRun(n);
    return n;
  }
  let total = 0;
  for (;;) {
    const { n, fragment } = readUnconstrainedLength(r);
    if (size.max !== undefined && total + n > size.max) {
      throw new PerDecodeError('out-of-range', `${what}: size above ${size.max}`, at);
    }
    checkRoom(r, n, unitBits, what);
    readRun(n);
    total += n;
    if (!fragment) break;
  }
  if (total < size.min) throw new PerDecodeError('out-of-range', `${what}: size ${total} below ${size.min}`, at);
  return total;
}

function checkRoom(r: BitReader, n: number, unitBits: number, what: string): void {
  if (n * unitBits > r.remaining) {
    throw new PerDecodeError('truncated', `${what}: ${n} items cannot fit in ${r.remaining} bits`, r.pos);
  }
}
