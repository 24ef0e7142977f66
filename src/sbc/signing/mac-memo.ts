/**
 * The MACs the SBC made lately, by input. The SBC verifies the very inputs it
 * signed: a response echoes the Vias and the Record-Route set of its request,
 * a 2xx carries the route set of the 18x before it, and the caller's ACK and
 * BYE present the route set signed on that 2xx. A check whose input and key
 * are those of a MAC made here compares the token against that MAC instead of
 * computing the same HMAC again: the verdict is the same (an HMAC is a
 * function of key and input), the token is still compared in constant time.
 *
 * Only signing fills it, so what a peer sends never enters it. Two
 * generations of `generation` entries each: the newest MACs stay while older
 * ones age out, and a miss only costs the HMAC it saved.
 */
import type { KeyObject } from 'node:crypto';
import { mac } from './mac.js';

interface Entry {
  key: KeyObject;
  mac: Buffer;
}

export class MacMemo {
  #young = new Map<string, Entry>();
  #old = new Map<string, Entry>();

  constructor(readonly generation = 2048) {
    if (!(Number.isInteger(generation) && generation >= 1)) throw new Error('generation must be a positive integer');
  }

  /** The MAC of `input` under `key`, made now or earlier, and kept for the checks to come. The Buffer is shared: read it only. */
  sign(key: KeyObject, input: string): Buffer {
    const had = this.#find(key, input);
    if (had !== undefined) return had;
    const m = mac(key, input);
    if (this.#young.size >= this.generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(input, { key, mac: m });
    return m;
  }

  /** The MAC of `input` under `key` for a check: the one signed here if any, else computed (and not kept). */
  verify(key: KeyObject, input: string): Buffer {
    return this.#find(key, input) ?? mac(key, input);
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  #find(key: KeyObject, input: string): Buffer | undefined {
    const e = this.#young.get(input) ?? this.#old.get(input);
    // the same KeyObject, not only the same key id: a key delivered by a pool blob is its own object
    return e !== undefined && e.key === key ? e.mac : undefined;
  }
}
