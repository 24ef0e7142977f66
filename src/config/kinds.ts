/**
 * The kinds of value a setting holds: how its text (YAML, environment, flag)
 * becomes the typed value roles receive, checked once at load, and the type
 * the `Config` of load.ts gets for it. A bad value is refused with the
 * setting, the value and why (`ConfigError`).
 */
import { isIP } from 'node:net';
import { formatMechanisms, parseMechanisms } from '../flow/mechanisms.js';
import type { Mechanism } from '../flow/messages.js';

/**
 * - `string`, `secret` (never shown), `path` (a file): text as given.
 * - `url`: an http or https URL, or empty.
 * - `int`: a whole number, ≥ `min` (0 unless given), ≤ `max`.
 * - `enum`: one of `values` (case-insensitive; the value as written in `values`).
 * - `list`: comma-separated words; with `values`, each one of them.
 * - `cidrs`: comma-separated addresses or address/prefix, IPv4 or IPv6.
 * - `hostPort`: `host:port` or `[v6]:port`; empty (undefined) where the doc says so.
 * - `hostPorts`: comma-separated `host:port`, in order.
 * - `diameterPeers`: comma-separated `origin-host@address[/prefix]`, grouped by host.
 * - `mechanisms`: an RFC 3329 list with priorities (`tls-psk;q=0.5,app-hmac;q=0.3`).
 */
export type SettingType = 'string' | 'int' | 'secret' | 'path' | 'url' | 'enum' | 'list' | 'cidrs' | 'hostPort' | 'hostPorts' | 'diameterPeers' | 'mechanisms';

export type SettingUnit = 'ms' | 'seconds' | 'bytes' | 'MiB';

export interface Setting {
  path: string;
  env: string;
  type: SettingType;
  doc: string;
  /** The default; a setting without one takes config/default.yaml's value. */
  default?: string | number;
  /** `enum`: the values; `list`: what each item may be. */
  values?: readonly string[];
  /** `int`: what the number counts (also in its name: `…Ms`, `…Seconds`). */
  unit?: SettingUnit;
  min?: number;
  max?: number;
  /** Former names, still read with a deprecation warning. */
  formerPath?: string;
  formerEnv?: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface DiameterPeerRule {
  originHost: string;
  /** Addresses or CIDRs this Origin-Host may connect from. */
  addresses: string[];
}

/** The typed value of a setting, from its declaration. */
export type ValueOf<S> = S extends { type: 'int' }
  ? number
  : S extends { type: 'enum'; values: readonly (infer V)[] }
    ? V
    : S extends { type: 'list'; values: readonly (infer V)[] }
      ? V[]
      : S extends { type: 'list' | 'cidrs' }
        ? string[]
        : S extends { type: 'hostPorts' }
          ? HostPort[]
          : S extends { type: 'diameterPeers' }
            ? DiameterPeerRule[]
            : S extends { type: 'mechanisms' }
              ? Mechanism[]
              : S extends { type: 'hostPort' }
                ? HostPort | undefined
                : string;

type Nest<P extends string, V> = P extends `${infer Head}.${infer Rest}` ? { [K in Head]: Nest<Rest, V> } : { [K in P]: V };
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Simplify<T> = T extends readonly unknown[] ? T : T extends object ? { -readonly [K in keyof T]: Simplify<T[K]> } : T;

/** The nested configuration object a list of settings describes: `a.b.c` of type int → `{ a: { b: { c: number } } }`. */
export type ConfigOf<L extends readonly Setting[]> = Simplify<UnionToIntersection<{ [I in keyof L]: Nest<L[I]['path'], ValueOf<L[I]>> }[number]>>;

/** Why a value is refused; the loader adds where it came from and the setting. */
export class BadValue extends Error {}

function items(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function oneOf(values: readonly string[], word: string): string {
  const hit = values.find((v) => v.toLowerCase() === word.toLowerCase());
  if (hit === undefined) throw new BadValue(`${JSON.stringify(word)} is not one of ${values.join(', ')}`);
  return hit;
}

/** An address or address/prefix, as written (IPv6 without brackets). */
export function checkCidr(text: string): string {
  const [address, bits, extra] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) throw new BadValue(`${JSON.stringify(text)} is not an IP address or address/prefix`);
  if (bits !== undefined) {
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new BadValue(`${JSON.stringify(text)}: the prefix must be 0 to ${max}`);
  }
  return text;
}

export function parseHostPortText(text: string): HostPort {
  const t = text.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(t) ?? /^([^:\s[\]]+):(\d+)$/.exec(t);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new BadValue(`${JSON.stringify(text)} is not host:port (port 1 to 65535; [v6]:port for IPv6)`);
  return { host: m[1]!, port };
}

function diameterPeers(text: string): DiameterPeerRule[] {
  const byHost = new Map<string, DiameterPeerRule>();
  for (const entry of items(text)) {
    const at = entry.lastIndexOf('@');
    const host = entry.slice(0, at).trim();
    const address = entry.slice(at + 1).trim();
    if (at <= 0 || !address || !/^[A-Za-z0-9.-]+$/.test(host)) throw new BadValue(`${JSON.stringify(entry)} is not origin-host@address`);
    checkCidr(address);
    const key = host.toLowerCase();
    const rule = byHost.get(key) ?? { originHost: host, addresses: [] };
    rule.addresses.push(address);
    byHost.set(key, rule);
  }
  return [...byHost.values()];
}

function url(text: string): string {
  if (text === '') return text;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new BadValue(`${JSON.stringify(text)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BadValue(`${JSON.stringify(text)}: only http and https URLs`);
  return text;
}

function mechanisms(text: string, allowed: readonly string[] | undefined): Mechanism[] {
  const r = parseMechanisms(text);
  if (!r.ok) throw new BadValue(r.error);
  if (allowed) for (const m of r.list.items) if (!allowed.includes(m.name)) throw new BadValue(`${m.name} is not implemented (${allowed.join(', ')} are)`);
  return r.list.items;
}

/**
 * The typed value of `raw` (from YAML: a string, number or boolean; from the
 * environment or a flag: a string). Throws BadValue with the reason.
 */
export function parseValue(s: Setting, raw: unknown): unknown {
  if (s.type === 'int') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    const min = s.min ?? 0;
    if (!Number.isSafeInteger(n)) throw new BadValue(`${JSON.stringify(raw)} is not a whole number`);
    if (n < min) throw new BadValue(`${n} is below ${min}`);
    if (s.max !== undefined && n > s.max) throw new BadValue(`${n} is above ${s.max}`);
    return n;
  }
  if (raw !== null && typeof raw === 'object') throw new BadValue('expected a single value, not a list or a mapping (write lists comma-separated)');
  const text = raw === null || raw === undefined ? '' : typeof raw === 'boolean' ? (raw ? 'on' : 'off') : String(raw);
  switch (s.type) {
    case 'enum':
      return oneOf(s.values ?? [], text.trim());
    case 'list':
      return s.values ? items(text).map((w) => oneOf(s.values!, w)) : items(text);
    case 'cidrs':
      return items(text).map(checkCidr);
    case 'hostPort':
      return text.trim() === '' ? undefined : parseHostPortText(text);
    case 'hostPorts':
      return items(text).map(parseHostPortText);
    case 'diameterPeers':
      return diameterPeers(text);
    case 'mechanisms':
      return mechanisms(text, s.values);
    case 'url':
      return url(text.trim());
    default:
      return text;
  }
}

/** How the docs name a kind. */
export function describeType(s: Setting): string {
  const unit = s.unit ? ` (${s.unit})` : '';
  switch (s.type) {
    case 'int':
      return `integer${unit}${s.min ? `, ≥ ${s.min}` : ''}${s.max !== undefined ? `, ≤ ${s.max}` : ''}`;
    case 'enum':
      return `one of ${(s.values ?? []).map((v) => `\`${v}\``).join(', ')}`;
    case 'list':
      return s.values ? `list of ${s.values.map((v) => `\`${v}\``).join(', ')}` : 'list';
    case 'cidrs':
      return 'list of CIDRs';
    case 'hostPort':
      return '`host:port`';
    case 'hostPorts':
      return 'list of `host:port`';
    case 'diameterPeers':
      return 'list of `origin-host@CIDR`';
    case 'mechanisms':
      return 'mechanism list';
    case 'secret':
      return 'secret';
    case 'path':
      return 'file';
    case 'url':
      return 'URL';
    default:
      return 'text';
  }
}

/** `host:port`, `[v6]:port`. */
export function formatHostPort(h: HostPort): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}

/** A typed value written back as a setting's text (`keyswitch config`, the docs). */
export function formatValue(s: Setting, v: unknown): string {
  if (v === undefined || v === null) return '';
  if (s.type === 'hostPort') return formatHostPort(v as HostPort);
  if (!Array.isArray(v)) return String(v);
  switch (s.type) {
    case 'hostPorts':
      return (v as HostPort[]).map(formatHostPort).join(',');
    case 'diameterPeers':
      return (v as DiameterPeerRule[]).flatMap((r) => r.addresses.map((a) => `${r.originHost}@${a}`)).join(',');
    case 'mechanisms':
      return formatMechanisms(v as Mechanism[]);
    default:
      return v.join(',');
  }
}
