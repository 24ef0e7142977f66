import type { SharedRedis } from './client.js';
import { RedisScript } from './script.js';

/**
 * Digest nonce-counts shared by the softswitch instances: `nc:<IDc>\n<nonce>`
 * holds the highest nonce-count a matching response used, with the nonce's
 * remaining lifetime as TTL. Check and record are one script, so the same
 * count answered at two instances at once is accepted once. Only a response
 * that matched (which takes the password) writes a key, so nobody can fill
 * this table without the passwords of many identities.
 */
const RECORD = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const SCRIPT = new RedisScript(RECORD, 1);

/** How long a Redis server's epoch is remembered (far longer than any nonce lives). */
const EPOCH_TTL_MS = 86_400_000;

export class RedisNonceCounts {
  #since = Date.now();
  /** The epoch read after the latest (re)connection, while it is being read. */
  #epoch: Promise<void> = Promise.resolve();

  constructor(private readonly shared: SharedRedis) {
    shared.redis.on('ready', () => {
      this.#epoch = this.#readEpoch(Date.now());
    });
    // a softswitch's store connects before its Digest starts: a 'ready' already past would never come, and
    // this instance's own start would then stand as the epoch, making the nonces other instances issued stale
    if (shared.redis.status === 'ready') this.#epoch = this.#readEpoch(Date.now());
  }

  /**
   * Nonces issued before this are stale: the first connection of any instance
   * to the Redis server now serving, as primary since its latest promotion (its
   * run_id and replication ID). A restart that lost the data, or a failover to a
   * replica (also one that had been the primary before), is a new pair, hence a
   * new epoch: counts used before may be forgotten. A new instance, or a
   * reconnection to the same server, keeps the epoch, so the nonces other
   * instances issued stay good.
   */
  get since(): number {
    return this.#since;
  }

  async #readEpoch(connectedAt: number): Promise<void> {
    try {
      const runId = /run_id:([0-9a-f]+)/.exec(await this.shared.run((r) => r.info('server')))?.[1];
      // a promotion (REPLICAOF NO ONE) draws a new replication ID: a server failed over to again keeps its run_id,
      // and the epoch recorded under it the first time came back with the data it replicated since
      const replId = /master_replid:([0-9a-f]+)/.exec(await this.shared.run((r) => r.info('replication')))?.[1];
      if (!runId || !replId) throw new Error('no run_id or master_replid');
      const key = `nc:epoch:${runId}:${replId}`;
      const v = await this.shared.run(async (r) => {
        await r.set(key, String(connectedAt), 'PX', EPOCH_TTL_MS, 'NX');
        return r.get(key);
      });
      const epoch = Number(v);
      this.#since = Number.isFinite(epoch) && epoch > 0 ? epoch : connectedAt;
    } catch {
      // unknown: the stricter rule, nonces issued before this connection are stale
      this.#since = connectedAt;
    }
  }

  /** Resolves once `since` holds the epoch of the server now connected. */
  current(): Promise<void> {
    return this.#epoch;
  }

  async record(idc: string, nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    return (await this.shared.run((r) => SCRIPT.run(r, [`nc:${idc}\n${nonce}`], [nc, ttl]))) === 1;
  }
}
