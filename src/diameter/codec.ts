/**
 * RFC 6733 message and AVP encoding. Encoding sizes the message first and
 * writes it into one buffer; decoding walks the buffer once and types each
 * AVP by a Map lookup in the dictionary.
 */
import { isIPv4 } from 'node:net';
import type { Avp } from './avp.js';
import {
  AVP_FLAG_MANDATORY,
  AVP_FLAG_VENDOR,
  AVP_HEADER_LENGTH,
  DIAMETER_VERSION,
  FLAG_ERROR,
  FLAG_REQUEST,
  HEADER_LENGTH,
  RESULT,
} from './constants.js';
import { defaultDictionary, type AvpDef, type Dictionary } from './dictionary.js';
import { DiameterDecodeError } from './errors.js';
import { ipToBytes, ipv4ToString, ipv6ToString } from './ip.js';

export interface DiameterMessage {
  flags: number;
  commandCode: number;
  applicationId: number;
  hopByHop: number;
  endToEnd: number;
  avps: Avp[];
  /** Set by the decoder: the first AVP carrying the M bit that the dictionary does not know. */
  unknownMandatory?: Avp;
}

export interface DiameterHeader {
  version: number;
  length: number;
  flags: number;
  commandCode: number;
  applicationId: number;
  hopByHop: number;
  endToEnd: number;
}

/** Seconds between the NTP epoch (1900) and the Unix epoch. */
const NTP_UNIX_OFFSET = 2208988800;
/** Grouped AVPs nest no deeper than this; deeper input is refused, not recursed into. */
const MAX_GROUP_DEPTH = 16;

export function isRequest(m: { flags: number }): boolean {
  return (m.flags & FLAG_REQUEST) !== 0;
}

/** Reads the fixed header; the caller checks that 20 bytes are there. */
export function readHeader(buf: Buffer, off = 0): DiameterHeader {
  return {
    version: buf[off]!,
    length: buf.readUIntBE(off + 1, 3),
    flags: buf[off + 4]!,
    commandCode: buf.readUIntBE(off + 5, 3),
    applicationId: buf.readUInt32BE(off + 8),
    hopByHop: buf.readUInt32BE(off + 12),
    endToEnd: buf.readUInt32BE(off + 16),
  };
}

// ---------------------------------------------------------------- encode

function dataLength(a: Avp, def: AvpDef | undefined, dict: Dictionary): number {
  const v = a.value;
  if (Buffer.isBuffer(v)) return v.length;
  if (typeof v === 'string') {
    if (def?.type === 'Address') return isIPv4(v) ? 6 : 18;
    return Buffer.byteLength(v, 'utf8');
  }
  if (typeof v === 'number') {
    const t = def?.type;
    return t === 'Unsigned64' || t === 'Integer64' || t === 'Float64' ? 8 : 4;
  }
  if (typeof v === 'bigint') return 8;
  if (v instanceof Date) return 4;
  let n = 0;
  for (const c of v) n += avpLength(c, dict);
  return n;
}

function avpLength(a: Avp, dict: Dictionary): number {
  const hdr = a.vendorId !== 0 || a.flags & AVP_FLAG_VENDOR ? 12 : 8;
  return (hdr + dataLength(a, dict.avp(a.code, a.vendorId), dict) + 3) & ~3;
}

function writeAvp(buf: Buffer, off: number, a: Avp, dict: Dictionary): number {
  const def = dict.avp(a.code, a.vendorId);
  const hasVendor = a.vendorId !== 0 || (a.flags & AVP_FLAG_VENDOR) !== 0;
  const hdr = hasVendor ? 12 : 8;
  const start = off;
  buf.writeUInt32BE(a.code >>> 0, off);
  buf[off + 4] = hasVendor ? a.flags | AVP_FLAG_VENDOR : a.flags & ~AVP_FLAG_VENDOR;
  if (hasVendor) buf.writeUInt32BE(a.vendorId >>> 0, off + 8);
  off += hdr;
  const v = a.value;
  const t = def?.type;
  if (Buffer.isBuffer(v)) off += v.copy(buf, off);
  else if (typeof v === 'string') {
    if (t === 'Address') {
      const ip = ipToBytes(v);
      buf.writeUInt16BE(ip.length === 4 ? 1 : 2, off);
      off += 2 + ip.copy(buf, off + 2);
    } else off += buf.write(v, off, 'utf8');
  } else if (typeof v === 'number') {
    if (t === 'Unsigned64') off = buf.writeBigUInt64BE(BigInt(v), off);
    else if (t === 'Integer64') off = buf.writeBigInt64BE(BigInt(v), off);
    else if (t === 'Float64') off = buf.writeDoubleBE(v, off);
    else if (t === 'Float32') off = buf.writeFloatBE(v, off);
    else if (v < 0) off = buf.writeInt32BE(v, off);
    else off = buf.writeUInt32BE(v, off);
  } else if (typeof v === 'bigint') {
    off = t === 'Integer64' || v < 0n ? buf.writeBigInt64BE(v, off) : buf.writeBigUInt64BE(v, off);
  } else if (v instanceof Date) {
    // RFC 6733 §4.3.1: NTP seconds, wrapping in 2036.
    off = buf.writeUInt32BE((Math.floor(v.getTime() / 1000) + NTP_UNIX_OFFSET) % 0x100000000, off);
  } else {
    for (const c of v) off = writeAvp(buf, off, c, dict);
  }
  buf.writeUIntBE(off - start, start + 5, 3);
  while (off & 3) buf[off++] = 0;
  return off;
}

export function encodeAvps(avps: readonly Avp[], dict: Dictionary = defaultDictionary): Buffer {
  let size = 0;
  for (const a of avps) size += avpLength(a, dict);
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const a of avps) off = writeAvp(buf, off, a, dict);
  return buf;
}

export function encodeMessage(m: DiameterMessage, dict: Dictionary = defaultDictionary): Buffer {
  let size = HEADER_LENGTH;
  for (const a of m.avps) size += avpLength(a, dict);
  if (size > 0xffffff) throw new Error('Diameter message too long');
  const buf = Buffer.allocUnsafe(size);
  buf[0] = DIAMETER_VERSION;
  buf.writeUIntBE(size, 1, 3);
  buf[4] = m.flags;
  buf.writeUIntBE(m.commandCode, 5, 3);
  buf.writeUInt32BE(m.applicationId >>> 0, 8);
  buf.writeUInt32BE(m.hopByHop >>> 0, 12);
  buf.writeUInt32BE(m.endToEnd >>> 0, 16);
  let off = HEADER_LENGTH;
  for (const a of m.avps) off = writeAvp(buf, off, a, dict);
  return buf;
}

// ---------------------------------------------------------------- decode

interface DecodeState {
  dict: Dictionary;
  unknownMandatory?: Avp;
}

function badLength(a: Avp, what: string): never {
  throw new DiameterDecodeError(RESULT.INVALID_AVP_LENGTH, what, a);
}

function decodeValue(def: AvpDef, a: Avp, data: Buffer, state: DecodeState, depth: number): Avp['value'] {
  switch (def.type) {
    case 'OctetString':
      return data;
    case 'UTF8String':
    case 'DiameterIdentity':
    case 'DiameterURI':
      return data.toString('utf8');
    case 'Unsigned32':
      if (data.length !== 4) badLength(a, `${def.name}: length ${data.length}`);
      return data.readUInt32BE(0);
    case 'Integer32':
    case 'Enumerated':
      if (data.length !== 4) badLength(a, `${def.name}: length ${data.length}`);
      return data.readInt32BE(0);
    case 'Unsigned64':
      if (data.length !== 8) badLength(a, `${def.name}: length ${data.length}`);
      return data.readBigUInt64BE(0);
    case 'Integer64':
      if (data.length !== 8) badLength(a, `${def.name}: length ${data.length}`);
      return data.readBigInt64BE(0);
    case 'Float32':
      if (data.length !== 4) badLength(a, `${def.name}: length ${data.length}`);
      return data.readFloatBE(0);
    case 'Float64':
      if (data.length !== 8) badLength(a, `${def.name}: length ${data.length}`);
      return data.readDoubleBE(0);
    case 'Time': {
      if (data.length !== 4) badLength(a, `${def.name}: length ${data.length}`);
      const s = data.readUInt32BE(0);
      // Values below 2^31 are in the era after the 2036 wrap.
      const unix = s >= 0x80000000 ? s - NTP_UNIX_OFFSET : s + 0x100000000 - NTP_UNIX_OFFSET;
      return new Date(unix * 1000);
    }
    case 'Address': {
      if (data.length === 6 && data.readUInt16BE(0) === 1) return ipv4ToString(data, 2);
      if (data.length === 18 && data.readUInt16BE(0) === 2) return ipv6ToString(data, 2);
      return data; // other families stay raw, and re-encode unchanged
    }
    case 'Grouped':
      if (depth >= MAX_GROUP_DEPTH) throw new DiameterDecodeError(RESULT.INVALID_AVP_VALUE, 'grouped AVPs nested too deep', a);
      // Failed-AVP holds what the other side could not read: keep it untyped so it cannot fail us too.
      return decodeAvpList(data, 0, data.length, state, depth + 1, def.code === 279 && def.vendorId === 0);
  }
}

function decodeAvpList(buf: Buffer, off: number, end: number, state: DecodeState, depth: number, raw = false): Avp[] {
  const out: Avp[] = [];
  while (off < end) {
    if (end - off < AVP_HEADER_LENGTH) {
      throw new DiameterDecodeError(RESULT.INVALID_AVP_LENGTH, 'truncated AVP header');
    }
    const code = buf.readUInt32BE(off);
    const flags = buf[off + 4]!;
    const len = buf.readUIntBE(off + 5, 3);
    const hasVendor = (flags & AVP_FLAG_VENDOR) !== 0;
    const hdr = hasVendor ? 12 : 8;
    const vendorId = hasVendor && end - off >= 12 ? buf.readUInt32BE(off + 8) : 0;
    if (len < hdr || off + len > end) {
      const failed: Avp = { code, vendorId, flags, value: Buffer.from(buf.subarray(off + Math.min(hdr, end - off), Math.min(end, off + 64))) };
      throw new DiameterDecodeError(RESULT.INVALID_AVP_LENGTH, `AVP ${code} length ${len} does not fit`, failed);
    }
    const data = buf.subarray(off + hdr, off + len);
    const a: Avp = { code, vendorId, flags, value: data };
    if (!raw) {
      const def = state.dict.avp(code, vendorId);
      if (def) a.value = decodeValue(def, a, data, state, depth);
      else if (flags & AVP_FLAG_MANDATORY && !state.unknownMandatory) state.unknownMandatory = a;
    }
    out.push(a);
    off += (len + 3) & ~3;
  }
  return out;
}

/** Decodes AVPs alone (a Grouped payload, for instance). */
export function decodeAvps(buf: Buffer, dict: Dictionary = defaultDictionary): Avp[] {
  return decodeAvpList(buf, 0, buf.length, { dict }, 0);
}

/**
 * Decodes one framed message. Throws DiameterDecodeError with the result code
 * to answer; the header fields are then still readable with readHeader.
 */
export function decodeMessage(buf: Buffer, dict: Dictionary = defaultDictionary): DiameterMessage {
  if (buf.length < HEADER_LENGTH) throw new DiameterDecodeError(RESULT.INVALID_MESSAGE_LENGTH, 'shorter than a header');
  const h = readHeader(buf);
  if (h.version !== DIAMETER_VERSION) throw new DiameterDecodeError(RESULT.UNSUPPORTED_VERSION, `version ${h.version}`);
  if (h.length !== buf.length || h.length % 4 !== 0) {
    throw new DiameterDecodeError(RESULT.INVALID_MESSAGE_LENGTH, `length ${h.length}`);
  }
  if ((h.flags & (FLAG_REQUEST | FLAG_ERROR)) === (FLAG_REQUEST | FLAG_ERROR)) {
    throw new DiameterDecodeError(RESULT.INVALID_HDR_BITS, 'E bit on a request');
  }
  const state: DecodeState = { dict };
  const avps = decodeAvpList(buf, HEADER_LENGTH, buf.length, state, 0);
  const m: DiameterMessage = {
    flags: h.flags,
    commandCode: h.commandCode,
    applicationId: h.applicationId,
    hopByHop: h.hopByHop,
    endToEnd: h.endToEnd,
    avps,
  };
  if (state.unknownMandatory) m.unknownMandatory = state.unknownMandatory;
  return m;
}
