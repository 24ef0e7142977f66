/**
 * RTP (RFC 3550) packets, RFC 4733 telephone-events and G.711 (PCMU/PCMA).
 * A codec: knows nothing of SIP or roles. `parseRtp` never throws.
 */

export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

/** Parses one RTP datagram; undefined for anything that is not version 2 RTP with a consistent length. */
export function parseRtp(b: Buffer): RtpPacket | undefined {
  if (b.length < 12) return undefined;
  const v0 = b[0]!;
  if (v0 >> 6 !== 2) return undefined;
  const padding = (v0 & 0x20) !== 0;
  const extension = (v0 & 0x10) !== 0;
  const cc = v0 & 0x0f;
  let off = 12 + cc * 4;
  if (off > b.length) return undefined;
  if (extension) {
    if (off + 4 > b.length) return undefined;
    off += 4 + b.readUInt16BE(off + 2) * 4;
    if (off > b.length) return undefined;
  }
  let end = b.length;
  if (padding) {
    const pad = b[b.length - 1]!;
    if (pad === 0 || off + pad > b.length) return undefined;
    end -= pad;
  }
  const pt = b[1]! & 0x7f;
  // 72–76 are RTCP packet types on a shared port (RFC 5761): not RTP
  if (pt >= 72 && pt <= 76) return undefined;
  return { marker: (b[1]! & 0x80) !== 0, payloadType: pt, sequence: b.readUInt16BE(2), timestamp: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), payload: b.subarray(off, end) };
}

export function buildRtp(p: RtpPacket): Buffer {
  const b = Buffer.alloc(12 + p.payload.length);
  b[0] = 0x80;
  b[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  b.writeUInt16BE(p.sequence & 0xffff, 2);
  b.writeUInt32BE(p.timestamp >>> 0, 4);
  b.writeUInt32BE(p.ssrc >>> 0, 8);
  p.payload.copy(b, 12);
  return b;
}

// ---- RFC 4733 -------------------------------------------------------------------------

export interface TelephoneEvent {
  /** 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D, others as numbers. */
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

export function parseTelephoneEvent(payload: Buffer): TelephoneEvent | undefined {
  // RFC 4733 §2.5.1.1: one or more 4-byte blocks; the first is the event
  if (payload.length < 4 || payload.length % 4 !== 0) return undefined;
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: payload.readUInt16BE(2) };
}

export function buildTelephoneEvent(e: TelephoneEvent): Buffer {
  const b = Buffer.alloc(4);
  b[0] = e.event & 0xff;
  b[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
  b.writeUInt16BE(e.duration & 0xffff, 2);
  return b;
}

const DTMF = '0123456789*#ABCD';

/** The DTMF digit of an event, or undefined for events that are not DTMF (RFC 4733 §3.2). */
export function dtmfDigit(event: number): string | undefined {
  return event < 16 ? DTMF[event] : undefined;
}

export function dtmfEvent(digit: string): number {
  const i = DTMF.indexOf(digit.toUpperCase());
  if (i < 0 || digit.length !== 1) throw new RangeError(`not a DTMF digit: ${digit}`);
  return i;
}

// ---- G.711 ----------------------------------------------------------------------------

export type G711 = 'PCMU' | 'PCMA';
export const PAYLOAD_TYPE: Record<G711, number> = { PCMU: 0, PCMA: 8 };

const BIAS = 0x84;
const CLIP = 32635;

export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

export function ulawToLinear(u: number): number {
  const x = ~u & 0xff;
  const t = (((x & 0x0f) << 3) + BIAS) << ((x & 0x70) >> 4);
  return x & 0x80 ? BIAS - t : t - BIAS;
}

export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s >= 0 ? 0x80 : 0;
  if (s < 0) s = -s - 1;
  if (s > 32767) s = 32767;
  let out: number;
  if (s < 256) out = s >> 4;
  else {
    let exp = 7;
    for (let mask = 0x4000; (s & mask) === 0 && exp > 1; mask >>= 1) exp--;
    out = (exp << 4) | ((s >> (exp + 3)) & 0x0f);
  }
  return (out | sign) ^ 0x55;
}

export function alawToLinear(a: number): number {
  const x = a ^ 0x55;
  const exp = (x & 0x70) >> 4;
  let t = (x & 0x0f) << 4;
  t += exp === 0 ? 8 : 0x108;
  if (exp > 1) t <<= exp - 1;
  return x & 0x80 ? t : -t;
}

export function encodeG711(codec: G711, pcm: Int16Array): Buffer {
  const out = Buffer.alloc(pcm.length);
  const f = codec === 'PCMU' ? linearToUlaw : linearToAlaw;
  for (let i = 0; i < pcm.length; i++) out[i] = f(pcm[i]!);
  return out;
}

export function decodeG711(codec: G711, bytes: Buffer): Int16Array {
  const out = new Int16Array(bytes.length);
  const f = codec === 'PCMU' ? ulawToLinear : alawToLinear;
  for (let i = 0; i < bytes.length; i++) out[i] = f(bytes[i]!);
  return out;
}

/** The byte G.711 sends for silence. */
export function g711Silence(codec: G711): number {
  return codec === 'PCMU' ? 0xff : 0xd5;
}

/** A sequence of tones (Hz, ms; 0 Hz = silence) as 8 kHz linear PCM: prompts and test signals. */
export function tones(seq: ReadonlyArray<readonly [number, number]>, amplitude = 8000): Int16Array {
  const total = seq.reduce((n, [, ms]) => n + Math.round(ms * 8), 0);
  const out = new Int16Array(total);
  let i = 0;
  for (const [hz, ms] of seq) {
    const n = Math.round(ms * 8);
    for (let k = 0; k < n; k++) out[i++] = hz === 0 ? 0 : Math.round(amplitude * Math.sin((2 * Math.PI * hz * k) / 8000));
  }
  return out;
}

/** Mean absolute amplitude of a G.711 payload: what the silence detector compares with its floor. */
export function g711Level(codec: G711, payload: Buffer): number {
  if (payload.length === 0) return 0;
  const f = codec === 'PCMU' ? ulawToLinear : alawToLinear;
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum += Math.abs(f(payload[i]!));
  return sum / payload.length;
}
