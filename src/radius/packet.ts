/**
 * RADIUS packet structure (RFC 2865 §3, §5; VSAs §5.26): a strict walk that
 * never throws, done once per received packet. It finds what the security
 * checks need (the Message-Authenticator, Proxy-State, vendor 32473
 * sub-attributes) without copying.
 */
import { Attr, KEYSWITCH_VENDOR_ID } from './dictionary.js';

export const HEADER_LENGTH = 20;
export const MAX_PACKET_LENGTH = 4096;

export interface RawAttribute {
  type: number;
  value: Buffer; // a view into the packet
}

export interface PacketView {
  code: number;
  identifier: number;
  /** The packet itself, trimmed to its Length field (trailing bytes are padding, RFC 2865 §3). */
  bytes: Buffer;
  authenticator: Buffer;
  attributes: RawAttribute[];
  /** Offset of the first Message-Authenticator's value, -1 if absent. */
  messageAuthenticatorOffset: number;
  /** Vendor 32473 sub-attributes by number (first occurrence). */
  keyswitch: Map<number, Buffer>;
}

export type WalkResult = { ok: true; packet: PacketView } | { ok: false; error: string };

export function walkPacket(buf: Buffer): WalkResult {
  if (buf.length < HEADER_LENGTH) return { ok: false, error: 'shorter than a RADIUS header' };
  const length = buf.readUInt16BE(2);
  if (length < HEADER_LENGTH || length > MAX_PACKET_LENGTH) return { ok: false, error: 'bad Length field' };
  if (buf.length < length) return { ok: false, error: 'truncated packet' };
  const bytes = buf.length === length ? buf : buf.subarray(0, length);
  const attributes: RawAttribute[] = [];
  const keyswitch = new Map<number, Buffer>();
  let maOffset = -1;
  let off = HEADER_LENGTH;
  while (off < length) {
    if (off + 2 > length) return { ok: false, error: 'truncated attribute header' };
    const type = bytes[off];
    const alen = bytes[off + 1];
    if (alen < 2 || off + alen > length) return { ok: false, error: `bad length of attribute ${type}` };
    const value = bytes.subarray(off + 2, off + alen);
    if (type === Attr.MessageAuthenticator) {
      if (alen !== 18) return { ok: false, error: 'Message-Authenticator not 16 bytes' };
      if (maOffset !== -1) return { ok: false, error: 'more than one Message-Authenticator' };
      maOffset = off + 2;
    } else if (type === Attr.VendorSpecific) {
      if (value.length < 5) return { ok: false, error: 'Vendor-Specific too short' };
      if (value.readUInt32BE(0) === KEYSWITCH_VENDOR_ID) {
        // Our vendor uses the RFC 2865 recommended sub-attribute format; anything else is malformed.
        let v = 4;
        while (v < value.length) {
          if (v + 2 > value.length) return { ok: false, error: 'truncated vendor sub-attribute' };
          const vtype = value[v];
          const vlen = value[v + 1];
          if (vlen < 2 || v + vlen > value.length) return { ok: false, error: `bad length of vendor sub-attribute ${vtype}` };
          if (!keyswitch.has(vtype)) keyswitch.set(vtype, value.subarray(v + 2, v + vlen));
          v += vlen;
        }
      }
    }
    attributes.push({ type, value });
    off += alen;
  }
  return {
    ok: true,
    packet: {
      code: bytes[0],
      identifier: bytes[1],
      bytes,
      authenticator: bytes.subarray(4, 20),
      attributes,
      messageAuthenticatorOffset: maOffset,
      keyswitch,
    },
  };
}

export function firstAttribute(p: PacketView, type: number): Buffer | undefined {
  for (const a of p.attributes) if (a.type === type) return a.value;
  return undefined;
}
