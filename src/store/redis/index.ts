import type { Config } from '../../config/load.js';
import type { Logger } from '../../log/logger.js';
import { connectRedis, redactRedisUrl, type SharedRedis } from './client.js';

export { connectRedis, isRedisUnavailable, RedisUnavailableError, REDIS_RETRY_AFTER_SECONDS, redactRedisUrl, type SharedRedis, type SharedRedisOptions } from './client.js';

/**
 * The process's shared Redis from `redis.*`, or undefined when `redis.url` is
 * empty (one instance of each role: state stays in the process and the database).
 * Each change of availability is one log line.
 */
export function sharedRedisFromConfig(cfg: Config, logger: Logger, role: string): SharedRedis | undefined {
  if (!cfg.redis.url && cfg.redis.sentinels.length === 0) return undefined;
  const where = cfg.redis.sentinels.length > 0
    ? `sentinels ${cfg.redis.sentinels.map((s) => `${s.host}:${s.port}`).join(',')} (${cfg.redis.sentinelName})`
    : redactRedisUrl(cfg.redis.url);
  return connectRedis({
    url: cfg.redis.url,
    sentinels: cfg.redis.sentinels,
    sentinelName: cfg.redis.sentinelName,
    keyPrefix: cfg.redis.keyPrefix,
    commandTimeoutMs: cfg.redis.commandTimeoutMs,
    onAvailability(up, why) {
      if (up) logger.info({ role, redis: where }, 'shared state (Redis) available');
      else logger.warn({ role, redis: where, why: redactRedisUrl(why) }, 'shared state (Redis) unavailable: requests that need it are answered 503 until it returns');
    },
  });
}
