/**
 * The MACs the SBC made lately, by dialog and input. The SBC verifies the
 * very inputs it signed: a response echoes the Vias and the Record-Route set
 * of its request, a 2xx carries the route set of the 18x before it, and the
 * caller's ACK and BYE present the route set signed on that 2xx. A check
 * whose input and key are those of a MAC made here compares the token against
 * that MAC instead of computing the same HMAC again: the verdict is the same
 * (an HMAC is a function of key and input), and the token is still compared
 * in constant time by the caller.
 *
 * Entries are grouped by a short scope (the Call-ID every input contains), so
 * a look-up hashes that, not the whole input; the input is then compared in
 * full. Only signing fills it, so what a peer sends never enters it. Two
 * generations of `generation` scopes, at most PER_SCOPE MACs each: the newest
 * stay while older ones age out, and a miss only costs the HMAC it saved.
 */
import type { KeyObject } from 'node:crypto';
import { mac } from './mac.js';

interface Entry {
  key: KeyObject;
  input: string;
  mac: Buffer;
}

/** A call's Vias (INVITE, BYE, re-INVITEs, …), Record-Route and route sets. */
const PER_SCOPE = 8;

export class MacMemo {
  #young = new Map<string, Entry[]>();
  #old = new Map<string, Entry[]>();

  constructor(readonly generation = 512) {
    if (!(Number.isInteger(generation) && generation >= 1)) throw new Error('generation must be a positive integer');
  }

  /** The MAC of `input` (which contains `scope`) under `key`, made now or earlier, and kept for the checks to come. The Buffer is shared: read it only. */
  sign(key: KeyObject, scope: string, input: string): Buffer {
    const had = this.#find(key, scope, input);
    if (had !== undefined) return had;
    const m = mac(key, input);
    let list = this.#young.get(scope);
    if (list === undefined) {
      if (this.#young.size >= this.generation) {
        this.#old = this.#young;
        this.#young = new Map();
      }
      list = [];
      this.#young.set(scope, list);
    } else if (list.length >= PER_SCOPE) list.shift();
    list.push({ key, input, mac: m });
    return m;
  }

  /** The MAC of `input` under `key` for a check: the one signed here if any, else computed (and not kept). */
  verify(key: KeyObject, scope: string, input: string): Buffer {
    return this.#find(key, scope, input) ?? mac(key, input);
  }

  /** MACs held. */
  get size(): number {
    let n = 0;
    for (const l of this.#young.values()) n += l.length;
    for (const l of this.#old.values()) n += l.length;
    return n;
  }

  #find(key: KeyObject, scope: string, input: string): Buffer | undefined {
    // the same KeyObject, not only the same key id: a key delivered by a pool blob is its own object
    const y = this.#young.get(scope);
    if (y !== undefined) for (const e of y) if (e.key === key && e.input === input) return e.mac;
    const o = this.#old.get(scope);
    if (o !== undefined) for (const e of o) if (e.key === key && e.input === input) return e.mac;
    return undefined;
  }
}
