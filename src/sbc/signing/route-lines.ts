/**
 * The canonical lines (canonical.ts) of a Record-Route or Route list, read
 * from the list's elements as written. A route set is mostly the same few
 * hops call after call (`<sip:sbc:5060;lr>`, the softswitch), so the line of
 * an element is kept by the element's text and that element is not parsed
 * again: a line is a function of the text alone. An element not seen before
 * is parsed exactly as `recordRoutes()`/`routes()` would parse it (the same
 * SipHeaderError when it is malformed). The entries that carry signatures
 * are parsed by the signer itself, which needs their parameters.
 *
 * Bounded: two generations of `generation` elements of at most
 * MAX_KEPT_CHARS characters each; elements a peer makes up only push the
 * hops out, which costs the parsing they saved.
 */
import { parseNameAddr, splitList, SipHeaderError, type NameAddr, type SipMessage } from '../../sip/index.js';
import { canonicalUri, type RouteLines } from './canonical.js';

export type RouteHeader = 'Record-Route' | 'Route';

/** Longest element whose line is kept (a hop with its signatures and no pool blob is about 140). */
const MAX_KEPT_CHARS = 256;

/** The elements of a list header in order, refused as `parseNameAddrList` refuses them (an empty element). */
export function routeItems(msg: SipMessage, header: RouteHeader): string[] {
  const out: string[] = [];
  for (const v of msg.getAll(header)) {
    for (const item of splitList(v)) {
      if (item.length === 0) throw new SipHeaderError(header, 'empty list element');
      out.push(item);
    }
  }
  return out;
}

export class RouteLineCache {
  #young = new Map<string, string>();
  #old = new Map<string, string>();

  constructor(readonly generation = 1024) {
    if (!(Number.isInteger(generation) && generation >= 1)) throw new Error('generation must be a positive integer');
  }

  /**
   * The line of each element, in order; `parsed` gives elements the caller
   * has already parsed (by index), whose lines are made from that and kept.
   */
  lines(items: readonly string[], header: RouteHeader, parsed?: ReadonlyMap<number, NameAddr>): string[] {
    const out = new Array<string>(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const n = parsed?.get(i);
      if (n !== undefined) {
        const line = canonicalUri(n.uri, true);
        this.#keep(item, line);
        out[i] = line;
        continue;
      }
      let line = this.#young.get(item) ?? this.#old.get(item);
      if (line === undefined) {
        line = canonicalUri(parseNameAddr(item, header).uri, true);
        this.#keep(item, line);
      }
      out[i] = line;
    }
    return out;
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  #keep(item: string, line: string): void {
    if (item.length > MAX_KEPT_CHARS || this.#young.has(item)) return;
    if (this.#young.size >= this.generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(item, line);
  }
}

/** The lines joined as the inputs take them, in the list's order or reversed (a Route set read from the caller's side). */
export function joinLines(lines: readonly string[], reversed = false): RouteLines {
  let text = '';
  if (reversed) for (let i = lines.length - 1; i >= 0; i--) text += lines[i] + '\n';
  else for (const l of lines) text += l + '\n';
  return { n: lines.length, text };
}
