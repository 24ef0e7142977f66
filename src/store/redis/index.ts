import type { Config } from '../../config/load.js';
import type { Logger } from '../../log/logger.js';
import { connectRedis, redactRedisUrl, type SharedRedis } from './client.js';

export { connectRedis, isRedisUnavailable, RedisUnavailableError, REDIS_RETRY_AFTER_SECONDS, redactRedisUrl, type SharedRedis, type SharedRedisOptions } from './client.js';

/** The `redis.*` settings. */
export type RedisSettings = Config['redis'];

/**
 * The shared Redis of `redis.*`, or undefined when `redis.url` and
 * `redis.sentinels` are empty (one instance of each role: state stays in the
 * process and the database). `notice` hears each change of availability,
 * with where Redis is (password hidden) and why.
 */
export function redisFromSettings(r: RedisSettings, notice: (up: boolean, where: string, why: string) => void): SharedRedis | undefined {
  if (!r.url && r.sentinels.length === 0) return undefined;
  const where = r.sentinels.length > 0 ? `sentinels ${r.sentinels.map((s) => `${s.host}:${s.port}`).join(',')} (${r.sentinelName})` : redactRedisUrl(r.url);
  return connectRedis({
    url: r.url,
    sentinels: r.sentinels,
    sentinelName: r.sentinelName,
    keyPrefix: r.keyPrefix,
    commandTimeoutMs: r.commandTimeoutMs,
    onAvailability: (up, why) => notice(up, where, redactRedisUrl(why)),
  });
}

/**
 * The same for a role's own connection, its availability logged; `whenDown`
 * says what the role does meanwhile (the SBC answers 503; the intrusion
 * detection counts alone).
 */
export function sharedRedisFromConfig(cfg: Config, logger: Logger, role: string, whenDown = 'requests that need it are answered 503 until it returns'): SharedRedis | undefined {
  return redisFromSettings(cfg.redis, (up, redis, why) => {
    if (up) logger.info({ role, redis }, 'shared state (Redis) available');
    else logger.warn({ role, redis, why }, `shared state (Redis) unavailable: ${whenDown}`);
  });
}
