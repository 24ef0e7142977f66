/**
 * Who the IDS refuses, why and until when. Keys: an address, a flow
 * (`address:port`, `[v6]:port`) or an identity (`id:<identity>`). Every entry
 * expires; the table is bounded (at the cap the entry that ends first goes).
 */
import type { BlockEntry, BlockScope } from './types.js';

export function flowKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function identityKey(identity: string): string {
  return `id:${identity.toLowerCase()}`;
}

export class Blacklist {
  readonly #entries = new Map<string, BlockEntry>();
  constructor(
    readonly max: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for a key, if any (an expired one is removed). */
  get(key: string, t: number): BlockEntry | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.until <= t) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Adds or extends a block; returns the entry and whether it is new. */
  add(target: string, scope: BlockScope, rule: string, reason: string, ms: number): { entry: BlockEntry; fresh: boolean } {
    const t = this.now();
    const old = this.get(target, t);
    if (old) {
      // A block in force is not renewed by the traffic it drops: only a new detection extends it.
      old.until = Math.max(old.until, t + ms);
      old.rule = rule;
      old.reason = reason;
      return { entry: old, fresh: false };
    }
    if (this.#entries.size >= this.max) this.#evict(t);
    const entry: BlockEntry = { target, scope, rule, reason, since: t, until: t + ms, hits: 0 };
    this.#entries.set(target, entry);
    return { entry, fresh: true };
  }

  /** A block made elsewhere (another instance): the later end wins; the entry is not renewed otherwise. */
  merge(e: BlockEntry): void {
    const old = this.get(e.target, this.now());
    if (old) {
      if (e.until > old.until) {
        old.until = e.until;
        old.rule = e.rule;
        old.reason = e.reason;
      }
      return;
    }
    if (this.#entries.size >= this.max) this.#evict(this.now());
    this.#entries.set(e.target, { target: e.target, scope: e.scope, rule: e.rule, reason: e.reason, since: e.since, until: e.until, hits: 0 });
  }

  remove(target: string): boolean {
    return this.#entries.delete(target);
  }

  list(): BlockEntry[] {
    const t = this.now();
    const out: BlockEntry[] = [];
    for (const [k, e] of this.#entries) {
      if (e.until <= t) this.#entries.delete(k);
      else out.push({ ...e });
    }
    return out.sort((a, b) => b.since - a.since);
  }

  sweep(t: number): void {
    for (const [k, e] of this.#entries) if (e.until <= t) this.#entries.delete(k);
  }

  #evict(t: number): void {
    this.sweep(t);
    if (this.#entries.size < this.max) return;
    let first: string | undefined;
    let end = Infinity;
    for (const [k, e] of this.#entries) {
      if (e.until < end) {
        end = e.until;
        first = k;
      }
    }
    if (first !== undefined) this.#entries.delete(first);
  }
}
