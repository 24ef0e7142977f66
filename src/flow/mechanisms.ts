import type { Mechanism, MechanismList } from './messages.js';

/**
 * RFC 3329-style security mechanism lists (`tls-psk;q=0.5, app-hmac;q=0.3`)
 * and the SBC's choice among them.
 *
 *   list          = sec-mechanism *( "," sec-mechanism )
 *   sec-mechanism = token *( ";" param )
 *   param         = token [ "=" ( token / quoted-string ) ]     ; "q" takes a qvalue
 *   qvalue        = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3"0" ]
 *
 * A mechanism without q ranks as q=1 (as in HTTP Accept); q=0 means "not
 * acceptable" and is never chosen. Names compare case-insensitively.
 */

/** The mechanisms docs/design.md defines; an SBC offers only those its adapter implements. */
export const KNOWN_MECHANISMS = ['tls-psk', 'app-hmac', 'tls'] as const;
export type KnownMechanism = (typeof KNOWN_MECHANISMS)[number];

export const MAX_MECHANISMS = 16;
export const MAX_MECHS_TEXT = 1024;

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
const LWS = /^[ \t\r\n]*|[ \t\r\n]*$/g;

export type ParseResult = { ok: true; list: MechanismList } | { ok: false; error: string };

/** Splits on `sep` outside quoted strings; undefined on an unterminated quote. */
function splitOutsideQuotes(text: string, sep: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  parts.push(text.slice(start));
  return parts;
}

export function parseMechanisms(text: string): ParseResult {
  if (typeof text !== 'string') return { ok: false, error: 'mechanism list missing' };
  if (text.length > MAX_MECHS_TEXT) return { ok: false, error: 'mechanism list too long' };
  const entries = splitOutsideQuotes(text, ',');
  if (!entries) return { ok: false, error: 'unterminated quoted string' };
  if (entries.length > MAX_MECHANISMS) return { ok: false, error: 'too many mechanisms' };
  const items: Mechanism[] = [];
  for (const entry of entries) {
    const params = splitOutsideQuotes(entry, ';')!;
    const name = params[0]!.replace(LWS, '');
    if (!TOKEN.test(name)) return { ok: false, error: 'bad mechanism name' };
    let q: number | undefined;
    for (let i = 1; i < params.length; i++) {
      const p = params[i]!;
      const eq = p.indexOf('=');
      const pname = (eq < 0 ? p : p.slice(0, eq)).replace(LWS, '');
      if (!TOKEN.test(pname)) return { ok: false, error: 'bad mechanism parameter' };
      if (pname.toLowerCase() !== 'q') continue; // other parameters are the mechanism's business
      const v = eq < 0 ? '' : p.slice(eq + 1).replace(LWS, '');
      if (q !== undefined || !QVALUE.test(v)) return { ok: false, error: 'bad q value' };
      q = Number(v);
    }
    items.push({ name, q: q ?? 1 });
  }
  return { ok: true, list: { items, text } };
}

function formatQ(q: number): string {
  return String(Math.round(q * 1000) / 1000);
}

/** The list as this project sends it: `name;q=0.5, name;q=0.3`. */
export function formatMechanisms(items: readonly Mechanism[]): string {
  return items.map((m) => `${m.name};q=${formatQ(m.q)}`).join(', ');
}

/** A list built from items, carrying its own formatted text. */
export function mechanismList(items: readonly Mechanism[]): MechanismList {
  for (const m of items) {
    if (!TOKEN.test(m.name)) throw new RangeError('bad mechanism name');
    if (!(m.q >= 0 && m.q <= 1)) throw new RangeError('q must be within 0..1');
  }
  const copy = items.map((m) => ({ name: m.name, q: m.q }));
  return { items: copy, text: formatMechanisms(copy) };
}

/**
 * The terminal's highest-ranked mechanism that `allowed` contains; ties go to
 * the terminal's order. Undefined when nothing is acceptable.
 */
export function chooseMechanism(terminal: MechanismList, allowed: readonly string[]): Mechanism | undefined {
  let best: Mechanism | undefined;
  for (const m of terminal.items) {
    if (m.q <= 0) continue;
    const name = m.name.toLowerCase();
    if (!allowed.some((a) => a.toLowerCase() === name)) continue;
    if (!best || m.q > best.q) best = m;
  }
  return best;
}
