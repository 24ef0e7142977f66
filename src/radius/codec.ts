/**
 * The RADIUS codec: named attributes to bytes and back, by the dictionaries
 * (names.ts: the RFC dictionaries and dictionaries/dictionary.keyswitch,
 * vendor 32473). Our own code since session 4: the `radius` package's
 * encode/decode cost ~10–20 µs a packet (dictionary walks, a 4 KiB buffer
 * and its own authenticator per packet) and was most of the RADIUS link's
 * CPU per registration; its dictionary files are still read at load. Around
 * it: the strict structural walk (packet.ts), the signatures (sign.ts:
 * Message-Authenticator first, required on receipt) and RFC 2868 hiding
 * (hiding.ts). Decoding never throws; encoding throws only on values we
 * built wrongly.
 */
import { Attr, KEYSWITCH_VENDOR_ID, RadiusCode } from './dictionary.js';
import { SaltSource, hideValue, unhideValue } from './hiding.js';
import { KEYSWITCH, STANDARD, type AttributeDef } from './names.js';
import { HEADER_LENGTH, MAX_PACKET_LENGTH, walkPacket, type PacketView } from './packet.js';
import { signAccessRequest, signAccountingRequest, signResponse } from './sign.js';

const CODES: ReadonlySet<number> = new Set([
  RadiusCode.AccessRequest,
  RadiusCode.AccessAccept,
  RadiusCode.AccessReject,
  RadiusCode.AccountingRequest,
  RadiusCode.AccountingResponse,
  RadiusCode.AccessChallenge,
  RadiusCode.StatusServer,
]);

export type AttributeValue = string | number | Date | Buffer;

/** A standard attribute by dictionary name, or a vendor 32473 one (`vendor: true`). */
export interface Attribute {
  name: string;
  value: AttributeValue;
  vendor?: boolean;
  /** RFC 2868 hiding; needs the Request Authenticator the hiding is keyed to. */
  hidden?: boolean;
}

export interface EncodeOptions {
  code: number;
  identifier: number;
  secret: Buffer;
  attributes: Attribute[];
  /** Responses: the request's authenticator. Access-Request: the fresh random one. Ignored for Accounting-Request. */
  requestAuthenticator?: Buffer;
  /** Copied unchanged, in order, into a response (RFC 2865 §5.33). */
  proxyState?: readonly Buffer[];
  /** Default true; false only to build bad packets in tests. */
  messageAuthenticator?: boolean;
}

const MA_VALUE_OFFSET = 22; // first attribute, right after the header
const MAX_VALUE = 253;

/** The value's bytes as its dictionary type says (the `radius` package's rules). */
function valueBytes(def: AttributeDef | undefined, name: string, value: AttributeValue): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (!def) throw new RangeError(`unknown RADIUS attribute ${name}`);
  switch (def.type) {
    case 'string':
      return Buffer.from(String(value), 'utf8');
    case 'integer': {
      const n = typeof value === 'number' ? value : (def.values.get(String(value)) ?? Number(value));
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`bad value for RADIUS attribute ${name}`);
      const out = Buffer.allocUnsafe(4);
      out.writeUInt32BE(n, 0);
      return out;
    }
    case 'date': {
      const secs = value instanceof Date ? Math.floor(value.getTime() / 1000) : Number(value);
      if (!Number.isInteger(secs) || secs < 0 || secs > 0xffffffff) throw new RangeError(`bad value for RADIUS attribute ${name}`);
      const out = Buffer.allocUnsafe(4);
      out.writeUInt32BE(secs, 0);
      return out;
    }
    case 'ipaddr': {
      const parts = String(value).split('.').map(Number);
      if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`bad IPv4 address for RADIUS attribute ${name}`);
      return Buffer.from(parts);
    }
    default:
      throw new RangeError(`RADIUS attribute ${name} takes bytes`);
  }
}

/** Builds and signs a packet; the Message-Authenticator is the first attribute. */
export function encodePacket(o: EncodeOptions): Buffer {
  if (!CODES.has(o.code)) throw new RangeError(`unsupported RADIUS code ${o.code}`);
  const isRequest = o.code === RadiusCode.AccessRequest || o.code === RadiusCode.StatusServer || o.code === RadiusCode.AccountingRequest;
  const reqAuth = o.requestAuthenticator ?? Buffer.alloc(16);
  if (reqAuth.length !== 16) throw new RangeError('authenticator must be 16 bytes');
  const withMa = o.messageAuthenticator !== false;
  let salts: SaltSource | undefined;
  // [type, value, vendor type or -1]
  const parts: [number, Buffer, number][] = [];
  let length = HEADER_LENGTH + (withMa ? 18 : 0);
  for (const a of o.attributes) {
    // An empty string is left out (as the `radius` package did), not sent as an empty attribute.
    if (a.value === '' && !a.hidden) continue;
    const def = (a.vendor ? KEYSWITCH : STANDARD).byName.get(a.name);
    if (!def) throw new RangeError(`unknown RADIUS attribute ${a.name}`);
    let bytes: Buffer;
    if (a.hidden) {
      const plain = Buffer.isBuffer(a.value) ? a.value : Buffer.from(String(a.value), 'utf8');
      bytes = hideValue(plain, o.secret, reqAuth, (salts ??= new SaltSource()).next());
    } else bytes = valueBytes(def, a.name, a.value);
    const size = a.vendor ? 8 + bytes.length : 2 + bytes.length;
    if (size > 255) throw new RangeError(`RADIUS attribute ${a.name} longer than ${MAX_VALUE} bytes`);
    parts.push(a.vendor ? [Attr.VendorSpecific, bytes, def.id] : [def.id, bytes, -1]);
    length += size;
  }
  for (const ps of o.proxyState ?? []) {
    if (ps.length > MAX_VALUE) throw new RangeError('Proxy-State longer than 253 bytes');
    parts.push([Attr.ProxyState, ps, -1]);
    length += 2 + ps.length;
  }
  if (length > MAX_PACKET_LENGTH) throw new RangeError('RADIUS packet longer than 4096 bytes');
  const packet = Buffer.allocUnsafe(length);
  packet[0] = o.code;
  packet[1] = o.identifier & 0xff;
  packet.writeUInt16BE(length, 2);
  packet.fill(0, 4, 20); // the authenticator field, signed below
  let off = HEADER_LENGTH;
  if (withMa) {
    packet[off] = Attr.MessageAuthenticator;
    packet[off + 1] = 18;
    packet.fill(0, off + 2, off + 18);
    off += 18;
  }
  for (const [type, bytes, vtype] of parts) {
    packet[off] = type;
    if (vtype >= 0) {
      packet[off + 1] = 8 + bytes.length;
      packet.writeUInt32BE(KEYSWITCH_VENDOR_ID, off + 2);
      packet[off + 6] = vtype;
      packet[off + 7] = 2 + bytes.length;
      off += 8;
    } else {
      packet[off + 1] = 2 + bytes.length;
      off += 2;
    }
    off += bytes.copy(packet, off);
  }
  const maOffset = withMa ? MA_VALUE_OFFSET : -1;
  if (o.code === RadiusCode.AccountingRequest) signAccountingRequest(packet, o.secret, maOffset);
  else if (isRequest) {
    reqAuth.copy(packet, 4);
    signAccessRequest(packet, o.secret, maOffset);
  } else signResponse(packet, o.secret, reqAuth, maOffset);
  return packet;
}

/** Attributes by dictionary name as the `radius` package decodes them; vendor ones under 'Vendor-Specific'. */
export type NamedAttributes = Record<string, unknown> & { 'Vendor-Specific'?: Record<string, unknown> };

export interface DecodedPacket {
  view: PacketView;
  attributes: NamedAttributes;
}

export type DecodeResult = { ok: true; packet: DecodedPacket } | { ok: false; error: string };

/** One value as the `radius` package decoded it: by dictionary type, integers by their VALUE name when they have one. */
function valueOf(def: AttributeDef, v: Buffer): unknown {
  switch (def.type) {
    case 'string':
      return v.toString('utf8');
    case 'integer': {
      if (v.length !== 4) throw new RangeError('integer attribute not 4 bytes');
      const n = v.readUInt32BE(0);
      return def.names.get(n) ?? n;
    }
    case 'date':
      if (v.length !== 4) throw new RangeError('date attribute not 4 bytes');
      return new Date(v.readUInt32BE(0) * 1000);
    case 'ipaddr':
      return Array.from(v).join('.');
    default:
      return v;
  }
}

function put(into: Record<string, unknown>, name: string, value: unknown): void {
  const was = into[name];
  if (was === undefined) into[name] = value;
  else if (Array.isArray(was)) was.push(value);
  else into[name] = [was, value];
}

/**
 * Named attributes of a walked packet (walkPacket has checked every length).
 * Attributes of unknown numbers, and Vendor-Specific ones of other vendors,
 * stay only in the view.
 */
export function decodeView(view: PacketView): DecodeResult {
  if (!CODES.has(view.code)) return { ok: false, error: `unsupported code ${view.code}` };
  const attributes: NamedAttributes = {};
  try {
    for (const a of view.attributes) {
      if (a.type === Attr.VendorSpecific) {
        // RFC 2865 §5.26: the high-order octet of a Vendor-Id is 0.
        if (a.value[0] !== 0) return { ok: false, error: 'attribute decoding failed' };
        if (a.value.readUInt32BE(0) !== KEYSWITCH_VENDOR_ID) continue;
        const vsa = (attributes['Vendor-Specific'] ??= {});
        for (let v = 4; v < a.value.length; v += a.value[v + 1]!) {
          const def = KEYSWITCH.byId.get(a.value[v]!);
          if (def) put(vsa, def.name, valueOf(def, a.value.subarray(v + 2, v + a.value[v + 1]!)));
        }
        continue;
      }
      const def = STANDARD.byId.get(a.type);
      if (def) put(attributes, def.name, valueOf(def, a.value));
    }
  } catch {
    return { ok: false, error: 'attribute decoding failed' };
  }
  return { ok: true, packet: { view, attributes } };
}

/** Structure check, then the named decode. Verifies nothing cryptographic (see sign.ts). */
export function decodePacket(buf: Buffer): DecodeResult {
  const walked = walkPacket(buf);
  if (!walked.ok) return walked;
  return decodeView(walked.packet);
}

function first(v: unknown): unknown {
  return Array.isArray(v) ? v[0] : v;
}

export function stringAttr(p: DecodedPacket, name: string): string | undefined {
  const v = first(p.attributes[name]);
  return typeof v === 'string' ? v : undefined;
}

export function vendorAttr(p: DecodedPacket, name: string): unknown {
  return first(p.attributes['Vendor-Specific']?.[name]);
}

export function vendorString(p: DecodedPacket, name: string): string | undefined {
  const v = vendorAttr(p, name);
  return typeof v === 'string' ? v : undefined;
}

export function vendorOctets(p: DecodedPacket, name: string): Buffer | undefined {
  const v = vendorAttr(p, name);
  return Buffer.isBuffer(v) ? v : undefined;
}

/** Integer attribute: the dictionary VALUE name if it has one, else the number. */
export function vendorEnum(p: DecodedPacket, name: string): string | number | undefined {
  const v = vendorAttr(p, name);
  return typeof v === 'string' || typeof v === 'number' ? v : undefined;
}

export function vendorDate(p: DecodedPacket, name: string): Date | undefined {
  const v = vendorAttr(p, name);
  return v instanceof Date && !Number.isNaN(v.getTime()) ? v : undefined;
}

/** A hidden vendor 32473 sub-attribute, revealed; undefined if absent or not a valid hidden value. */
export function revealVendor(p: DecodedPacket, type: number, secret: Buffer, requestAuthenticator: Buffer): Buffer | undefined {
  const field = p.view.keyswitch.get(type);
  return field ? unhideValue(field, secret, requestAuthenticator) : undefined;
}

const NONE: readonly Buffer[] = Object.freeze([]);

/** The request's Proxy-State values in order; most requests carry none (then one shared empty list). */
export function proxyStates(p: DecodedPacket): readonly Buffer[] {
  let out: Buffer[] | undefined;
  for (const a of p.view.attributes) if (a.type === Attr.ProxyState) (out ??= []).push(a.value);
  return out ?? NONE;
}
