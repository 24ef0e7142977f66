/**
 * Codec wrapper over the `radius` package: it turns named attributes into
 * bytes and back using the loaded dictionaries (types, enumerations, vendor
 * 32473). Around it, our own parts: the strict structural walk (packet.ts),
 * the signatures (sign.ts: Message-Authenticator first, required on receipt)
 * and RFC 2868 hiding (hiding.ts), none of which the package gets right.
 * Decoding never throws; encoding throws only on values we built wrongly.
 */
import radius from 'radius';
import { Attr, KEYSWITCH_VENDOR_ID, RadiusCode, loadDictionary } from './dictionary.js';
import { SaltSource, hideValue, unhideValue } from './hiding.js';
import { walkPacket, type PacketView } from './packet.js';
import { signAccessRequest, signAccountingRequest, signResponse } from './sign.js';

loadDictionary();

/**
 * The `radius` package allocates through the deprecated `Buffer()`
 * constructor. Node decides whether to warn about it by capturing and walking
 * the caller's stack, for each of the first 10,000 calls (then gives up
 * checking): ~40 µs per RADIUS exchange until then, 2/3 of the codec's cost
 * for the first few thousand registrations of a process. One call from here,
 * outside node_modules, with deprecation warnings silenced for it, marks the
 * warning as given, and Node stops checking.
 */
function settleBufferDeprecation(): void {
  const was = process.noDeprecation;
  process.noDeprecation = true;
  try {
    (Buffer as unknown as (size: number) => Buffer)(0);
  } finally {
    process.noDeprecation = was;
  }
}
settleBufferDeprecation();

const CODE_NAMES: Record<number, string> = {
  [RadiusCode.AccessRequest]: 'Access-Request',
  [RadiusCode.AccessAccept]: 'Access-Accept',
  [RadiusCode.AccessReject]: 'Access-Reject',
  [RadiusCode.AccountingRequest]: 'Accounting-Request',
  [RadiusCode.AccountingResponse]: 'Accounting-Response',
  [RadiusCode.AccessChallenge]: 'Access-Challenge',
  [RadiusCode.StatusServer]: 'Status-Server',
};

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
  proxyState?: Buffer[];
  /** Default true; false only to build bad packets in tests. */
  messageAuthenticator?: boolean;
}

const MA_VALUE_OFFSET = 22; // first attribute, right after the header

/** Builds and signs a packet; the Message-Authenticator is the first attribute. */
export function encodePacket(o: EncodeOptions): Buffer {
  const code = CODE_NAMES[o.code];
  if (!code) throw new RangeError(`unsupported RADIUS code ${o.code}`);
  const isRequest = o.code === RadiusCode.AccessRequest || o.code === RadiusCode.StatusServer || o.code === RadiusCode.AccountingRequest;
  const reqAuth = o.requestAuthenticator ?? Buffer.alloc(16);
  if (reqAuth.length !== 16) throw new RangeError('authenticator must be 16 bytes');
  const withMa = o.messageAuthenticator !== false;
  const salts = new SaltSource();
  const list: unknown[] = [];
  if (withMa) list.push(['Message-Authenticator', Buffer.alloc(16)]);
  for (const a of o.attributes) {
    let value = a.value;
    // The package silently drops an empty string, which would leave an empty Vendor-Specific behind.
    if (value === '' && !a.hidden) continue;
    if (a.hidden) {
      const plain = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8');
      value = hideValue(plain, o.secret, reqAuth, salts.next());
    }
    list.push(a.vendor ? ['Vendor-Specific', KEYSWITCH_VENDOR_ID, [[a.name, value]]] : [a.name, value]);
  }
  for (const ps of o.proxyState ?? []) list.push([Attr.ProxyState, ps]);
  const packet: Buffer = radius.encode({
    code,
    identifier: o.identifier,
    secret: 'unused', // signatures are ours, below
    attributes: list,
    add_message_authenticator: false,
    authenticator: reqAuth,
  } as Parameters<typeof radius.encode>[0]);
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

/** Structure check, then the package's named decode. Verifies nothing cryptographic (see sign.ts). */
export function decodePacket(buf: Buffer): DecodeResult {
  const walked = walkPacket(buf);
  if (!walked.ok) return walked;
  if (!CODE_NAMES[walked.packet.code]) return { ok: false, error: `unsupported code ${walked.packet.code}` };
  try {
    const d = radius.decode_without_secret({ packet: walked.packet.bytes });
    return { ok: true, packet: { view: walked.packet, attributes: d.attributes as NamedAttributes } };
  } catch {
    return { ok: false, error: 'attribute decoding failed' };
  }
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

export function proxyStates(p: DecodedPacket): Buffer[] {
  return p.view.attributes.filter((a) => a.type === Attr.ProxyState).map((a) => a.value);
}
