/**
 * Bit-level buffers for PER. Bit 0 is the most significant bit of octet 0.
 * Alignment is relative to the start of the buffer, which is also the start
 * of the outermost encoding (PER pads every complete encoding to an octet).
 */
import { PerDecodeError } from './errors.js';

export class BitWriter {
  private buf = new Uint8Array(64);
  private pos = 0;
  /** Values whose position the caller may ask for: [value, bit offset, bit length]. */
  readonly marks: Array<[object, number, number]> = [];

  /** `tracking` false: nobody will ask for positions, so none are recorded. */
  constructor(readonly tracking = true) {}

  /** Records that `value` is written next, taking `bitLength` bits. */
  mark(value: object, bitLength: number): void {
    if (this.tracking) this.marks.push([value, this.pos, bitLength]);
  }

  /** Writes a complete inner encoding (an open type's contents) and keeps its marks. */
  embed(inner: BitWriter, bytes: Uint8Array): void {
    const base = this.pos;
    this.octets(bytes);
    for (const [v, off, len] of inner.marks) this.marks.push([v, base + off, len]);
  }

  /** Bits written so far. */
  get bitLength(): number {
    return this.pos;
  }

  private ensure(bits: number): void {
    const need = (this.pos + bits + 7) >>> 3;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf);
    this.buf = next;
  }

  bit(b: boolean | number): void {
    this.ensure(1);
    if (b) this.buf[this.pos >>> 3] |= 0x80 >>> (this.pos & 7);
    this.pos++;
  }

  /** Writes `n` bits (0..53) of the non-negative integer `value`, most significant first. */
  bits(value: number, n: number): void {
    if (n === 0) return;
    if (n > 32) {
      const high = Math.floor(value / 2 ** 32);
      this.bits(high, n - 32);
      this.bits(value - high * 2 ** 32, 32);
      return;
    }
    this.ensure(n);
    for (let i = n - 1; i >= 0; i--) {
      if ((value >>> i) & 1) this.buf[this.pos >>> 3] |= 0x80 >>> (this.pos & 7);
      this.pos++;
    }
  }

  /** Pads with zero bits to the next octet boundary. */
  align(): void {
    this.pos = (this.pos + 7) & ~7;
    this.ensure(0);
  }

  /** Writes whole octets at the current position (aligned or not). */
  octets(data: Uint8Array): void {
    if ((this.pos & 7) === 0) {
      this.ensure(data.length * 8);
      this.buf.set(data, this.pos >>> 3);
      this.pos += data.length * 8;
      return;
    }
    for (const byte of data) this.bits(byte, 8);
  }

  /** Writes the first `n` bits of `data`. */
  bitsFrom(data: Uint8Array, n: number): void {
    const whole = n >>> 3;
    this.octets(data.subarray(0, whole));
    const rest = n & 7;
    if (rest) this.bits(data[whole]! >>> (8 - rest), rest);
  }

  /** The encoding, padded with zero bits to a whole number of octets. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, (this.pos + 7) >>> 3));
  }
}

export class BitReader {
  /** Absolute bit position in `buf`. */
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    readonly start = 0,
    readonly end = buf.length * 8,
    /** False when `buf` is a reassembled copy, whose offsets mean nothing to the caller. */
    readonly absolute = true,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(bits: number, what: string): void {
    if (bits > this.end - this.pos) {
      throw new PerDecodeError('truncated', `${what}: needs ${bits} bits, ${this.end - this.pos} left`, this.pos);
    }
  }

  bit(): number {
    this.need(1, 'bit');
    const b = (this.buf[this.pos >>> 3]! >>> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  /** Reads `n` bits (0..53) as a non-negative integer. */
  bits(n: number): number {
    if (n === 0) return 0;
    this.need(n, 'bit-field');
    if (n > 32) return this.bits(n - 32) * 2 ** 32 + this.bits(32);
    let v = 0;
    for (let i = 0; i < n; i++) {
      v = (v << 1) | ((this.buf[this.pos >>> 3]! >>> (7 - (this.pos & 7))) & 1);
      this.pos++;
    }
    return v >>> 0;
  }

  align(): void {
    const next = (this.pos + 7) & ~7;
    if (next > this.end) throw new PerDecodeError('truncated', 'padding runs past the end', this.pos);
    this.pos = next;
  }

  /** Reads `n` whole octets (a copy) at the current position. */
  octets(n: number): Buffer {
    this.need(n * 8, 'octets');
    if ((this.pos & 7) === 0) {
      const at = this.pos >>> 3;
      this.pos += n * 8;
      return Buffer.from(this.buf.subarray(at, at + n));
    }
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.bits(8);
    return out;
  }

  /** Reads `n` bits into octets, the unused low bits of the last octet zero. */
  bitsInto(n: number): Buffer {
    this.need(n, 'bit string');
    const out = this.octets(n >>> 3);
    const rest = n & 7;
    if (!rest) return out;
    return Buffer.concat([out, Buffer.from([this.bits(rest) << (8 - rest)])]);
  }

  /** A reader over the next `octetCount` octets (octet-aligned), which this reader skips. */
  window(octetCount: number): BitReader {
    this.need(octetCount * 8, 'open type');
    const sub = new BitReader(this.buf, this.pos, this.pos + octetCount * 8, this.absolute);
    this.pos += octetCount * 8;
    return sub;
  }
}
