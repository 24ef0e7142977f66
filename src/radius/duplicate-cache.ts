/**
 * Duplicate detection (RFC 5080 §2.2.2): a request with the same source,
 * Identifier and Request Authenticator is a retransmission. While it is being
 * answered further copies are dropped; once answered they get the same bytes.
 */
import { dropOldest } from '../lib/map-eviction.js';

export type DuplicateState = { kind: 'new' } | { kind: 'in-progress' } | { kind: 'answered'; response: Buffer };

interface Entry {
  /** The answer's bytes as a one-byte string (see `answered`). */
  response?: string;
  expires: number;
}

const EVICT_EVERY_MS = 1000;
// the two answers without data, one object each (not one per request)
const NEW: DuplicateState = Object.freeze({ kind: 'new' });
const IN_PROGRESS: DuplicateState = Object.freeze({ kind: 'in-progress' });

export class DuplicateCache {
  private readonly entries = new Map<string, Entry>();
  private nextEvict = 0;

  constructor(
    private readonly ttlMs = 30_000,
    private readonly maxEntries = 65_536,
  ) {}

  static key(address: string, port: number, packet: Buffer): string {
    // Identifier and Request Authenticator are bytes 1 and 4..19.
    return `${address}|${port}|${packet.toString('latin1', 1, 2)}${packet.toString('latin1', 4, 20)}`;
  }

  /** Looks the request up and, if new, marks it in progress. */
  begin(key: string, now = Date.now()): DuplicateState {
    const e = this.entries.get(key);
    if (e && e.expires > now) return e.response !== undefined ? { kind: 'answered', response: Buffer.from(e.response, 'latin1') } : IN_PROGRESS;
    if (e) this.entries.delete(key);
    if (this.entries.size >= this.maxEntries || now >= this.nextEvict) this.evict(now);
    this.entries.set(key, { expires: now + this.ttlMs });
    return NEW;
  }

  /**
   * Kept as a one-byte string on V8's heap, copied out again only for a retransmission (rare). A Buffer
   * kept here was either a slice pinning one of Node's 8 KiB pool blocks for the TTL or, copied, a
   * backing store of its own: one malloc and one free per answer, and tens of thousands of
   * ArrayBuffers for every GC to sweep at a few thousand answers a second.
   */
  answered(key: string, response: Buffer, now = Date.now()): void {
    this.entries.delete(key); // re-insert so eviction order follows expiry
    this.entries.set(key, { response: response.toString('latin1'), expires: now + this.ttlMs });
  }

  /** Dropped or failed: forget it, so a retransmission is processed afresh. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Drops expired entries (and the oldest beyond the cap) once a second, not on every request: a Map keeps a
   * deleted entry's slot until it next grows, and iteration walks those holes, so a walk from the start on
   * every request was a scan of thousands of holes under load (an expired entry is never answered from).
   */
  private evict(now: number): void {
    this.nextEvict = now + EVICT_EVERY_MS;
    // At the cap, the oldest go at once down to under 15/16 of it: room for the next requests without a walk each.
    if (this.entries.size >= this.maxEntries) dropOldest(this.entries, this.entries.size - (this.maxEntries - (this.maxEntries >> 4)) + 1);
    for (const [k, e] of this.entries) {
      if (e.expires > now) break;
      this.entries.delete(k);
    }
  }
}
