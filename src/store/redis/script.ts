import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script run by its SHA (EVALSHA: one round trip), loaded with EVAL the
 * first time a server does not know it (a new or restarted Redis).
 * ioredis prefixes the KEYS as it does every key.
 */
export class RedisScript {
  readonly #sha: string;
  constructor(readonly lua: string, readonly numberOfKeys: number) {
    this.#sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(r: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) throw new Error('script called with the wrong number of keys');
    try {
      return await r.evalsha(this.#sha, this.numberOfKeys, ...keys, ...args);
    } catch (e) {
      if (!/NOSCRIPT/.test((e as Error).message)) throw e;
      return r.eval(this.lua, this.numberOfKeys, ...keys, ...args);
    }
  }
}
