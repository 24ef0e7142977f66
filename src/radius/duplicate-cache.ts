/**
 * Duplicate detection (RFC 5080 §2.2.2): a request with the same source,
 * Identifier and Request Authenticator is a retransmission. While it is being
 * answered further copies are dropped; once answered they get the same bytes.
 */
export type DuplicateState = { kind: 'new' } | { kind: 'in-progress' } | { kind: 'answered'; response: Buffer };

interface Entry {
  response?: Buffer;
  expires: number;
}

export class DuplicateCache {
  private readonly entries = new Map<string, Entry>();

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
    if (e && e.expires > now) return e.response ? { kind: 'answered', response: e.response } : { kind: 'in-progress' };
    if (e) this.entries.delete(key);
    this.evict(now);
    this.entries.set(key, { expires: now + this.ttlMs });
    return { kind: 'new' };
  }

  answered(key: string, response: Buffer, now = Date.now()): void {
    this.entries.delete(key); // re-insert so eviction order follows expiry
    this.entries.set(key, { response: ownBytes(response), expires: now + this.ttlMs });
  }

  /** Dropped or failed: forget it, so a retransmission is processed afresh. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    for (const [k, e] of this.entries) {
      if (e.expires > now && this.entries.size < this.maxEntries) break;
      this.entries.delete(k);
    }
  }
}

/**
 * The answer in memory of its own: a small Buffer is usually a slice of one of
 * Node's shared 8 KiB pool blocks, and keeping the slice for the cache's 30 s
 * would keep its whole block (and every other allocation in it) alive.
 */
function ownBytes(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const own = Buffer.allocUnsafeSlow(b.length);
  b.copy(own);
  return own;
}
