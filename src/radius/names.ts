/**
 * Attribute names, types and enumerations for the codec, read once from
 * FreeRADIUS-format dictionaries: the RFC dictionaries the `radius` package
 * ships (its files only; its code is off the per-packet path) and
 * dictionaries/dictionary.keyswitch. Plain maps, so that encoding and
 * decoding an attribute is a lookup, not a walk of the package's tables.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KEYSWITCH_DICTIONARY, KEYSWITCH_VENDOR_ID } from './dictionary.js';

export type AttributeType = 'string' | 'integer' | 'date' | 'ipaddr' | 'octets';

export interface AttributeDef {
  id: number;
  name: string;
  /** How a value is turned into a JavaScript one; anything not listed (tagged, ipv6, …) stays octets. */
  type: AttributeType;
  /** VALUE name → number. */
  values: Map<string, number>;
  /** number → VALUE name. */
  names: Map<number, string>;
}

export interface VendorTable {
  byName: Map<string, AttributeDef>;
  byId: Map<number, AttributeDef>;
}

function table(): VendorTable {
  return { byName: new Map(), byId: new Map() };
}

function typeOf(type: string, flags: string): AttributeType {
  // Tagged and encrypt=1 values need more than a type conversion: the codec hands them over as bytes. (An
  // encrypt=2 value decodes by its type, as the package did; its readers unhide it from the raw view.)
  if (/has_tag|encrypt=1/.test(flags)) return 'octets';
  switch (type.toLowerCase()) {
    case 'string':
    case 'text':
      return 'string';
    case 'integer':
    case 'time':
      return 'integer';
    case 'date':
      return 'date';
    case 'ipaddr':
      return 'ipaddr';
    default:
      return 'octets';
  }
}

/** Parses dictionary text into `vendors` (0: standard attributes). */
export function parseDictionary(text: string, vendors: Map<number, VendorTable>): void {
  const vendorIds = new Map<string, number>();
  let vendor = 0;
  const tableOf = (v: number): VendorTable => {
    let t = vendors.get(v);
    if (!t) vendors.set(v, (t = table()));
    return t;
  };
  const pendingValues: [number, string, string, number][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    switch (f[0]) {
      case 'VENDOR':
        vendorIds.set(f[1]!, Number(f[2]));
        break;
      case 'BEGIN-VENDOR':
        vendor = vendorIds.get(f[1]!) ?? 0;
        break;
      case 'END-VENDOR':
        vendor = 0;
        break;
      case 'ATTRIBUTE': {
        const def: AttributeDef = { id: Number(f[2]), name: f[1]!, type: typeOf(f[3] ?? 'octets', f.slice(4).join(',')), values: new Map(), names: new Map() };
        const t = tableOf(vendor);
        t.byName.set(def.name, def);
        t.byId.set(def.id, def);
        break;
      }
      case 'VALUE':
        pendingValues.push([vendor, f[1]!, f[2]!, Number(f[3])]);
        break;
    }
  }
  for (const [v, attr, name, n] of pendingValues) {
    const def = vendors.get(v)?.byName.get(attr);
    if (!def) continue;
    def.values.set(name, n);
    if (!def.names.has(n)) def.names.set(n, name);
  }
}

function load(): Map<number, VendorTable> {
  const vendors = new Map<number, VendorTable>();
  const rfcDir = join(dirname(createRequire(import.meta.url).resolve('radius/package.json')), 'dictionaries');
  for (const f of readdirSync(rfcDir).sort()) parseDictionary(readFileSync(join(rfcDir, f), 'ascii'), vendors);
  parseDictionary(readFileSync(KEYSWITCH_DICTIONARY, 'ascii'), vendors);
  return vendors;
}

const VENDORS = load();

export const STANDARD: VendorTable = VENDORS.get(0)!;
export const KEYSWITCH: VendorTable = VENDORS.get(KEYSWITCH_VENDOR_ID)!;
