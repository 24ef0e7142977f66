/**
 * The AVP value model and helpers to build and read AVP lists. Values are
 * typed by the dictionary on decode; an AVP the dictionary does not know keeps
 * its bytes as a Buffer and re-encodes unchanged.
 */
import { AVP_FLAG_MANDATORY, AVP_FLAG_VENDOR, VENDOR_IETF } from './constants.js';
import { defaultDictionary, type Dictionary } from './dictionary.js';

/**
 * OctetString → Buffer; UTF8String, DiameterIdentity, DiameterURI → string;
 * Unsigned32, Integer32, Enumerated, Float → number; 64-bit → bigint;
 * Address → string (IPv4/IPv6) or Buffer (other families, kept raw);
 * Time → Date; Grouped → Avp[]; unknown AVPs → Buffer.
 */
export type AvpValue = Buffer | string | number | bigint | Date | Avp[];

export interface Avp {
  code: number;
  vendorId: number;
  flags: number;
  value: AvpValue;
}

/** Build an AVP by dictionary name; V and M bits follow the definition. */
export function avp(name: string, value: AvpValue, dict: Dictionary = defaultDictionary): Avp {
  const def = dict.avpNamed(name);
  if (!def) throw new Error(`unknown AVP name ${name}`);
  let flags = def.mandatory ? AVP_FLAG_MANDATORY : 0;
  if (def.vendorId !== VENDOR_IETF) flags |= AVP_FLAG_VENDOR;
  return { code: def.code, vendorId: def.vendorId, flags, value };
}

export function findAvp(avps: readonly Avp[], code: number, vendorId = VENDOR_IETF): Avp | undefined {
  for (const a of avps) if (a.code === code && a.vendorId === vendorId) return a;
  return undefined;
}

export function findAvps(avps: readonly Avp[], code: number, vendorId = VENDOR_IETF): Avp[] {
  return avps.filter((a) => a.code === code && a.vendorId === vendorId);
}

export function findNamed(avps: readonly Avp[], name: string, dict: Dictionary = defaultDictionary): Avp | undefined {
  const def = dict.avpNamed(name);
  if (!def) throw new Error(`unknown AVP name ${name}`);
  return findAvp(avps, def.code, def.vendorId);
}

export function getString(avps: readonly Avp[], name: string, dict?: Dictionary): string | undefined {
  const v = findNamed(avps, name, dict)?.value;
  return typeof v === 'string' ? v : undefined;
}

export function getBuffer(avps: readonly Avp[], name: string, dict?: Dictionary): Buffer | undefined {
  const v = findNamed(avps, name, dict)?.value;
  return Buffer.isBuffer(v) ? v : undefined;
}

export function getNumber(avps: readonly Avp[], name: string, dict?: Dictionary): number | undefined {
  const v = findNamed(avps, name, dict)?.value;
  return typeof v === 'number' ? v : undefined;
}

export function getBigint(avps: readonly Avp[], name: string, dict?: Dictionary): bigint | undefined {
  const v = findNamed(avps, name, dict)?.value;
  return typeof v === 'bigint' ? v : undefined;
}

export function getGroup(avps: readonly Avp[], name: string, dict?: Dictionary): Avp[] | undefined {
  const v = findNamed(avps, name, dict)?.value;
  return Array.isArray(v) ? v : undefined;
}
