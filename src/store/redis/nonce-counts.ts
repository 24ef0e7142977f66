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

export class RedisNonceCounts {
  #since = Date.now();
  constructor(private readonly shared: SharedRedis) {
    shared.redis.on('ready', () => {
      this.#since = Date.now();
    });
  }

  /** When this process last (re)connected: nonces issued before are stale (their counts may have been lost with Redis's data). */
  get since(): number {
    return this.#since;
  }

  async record(idc: string, nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    return (await this.shared.run((r) => SCRIPT.run(r, [`nc:${idc}\n${nonce}`], [nc, ttl]))) === 1;
  }
}
