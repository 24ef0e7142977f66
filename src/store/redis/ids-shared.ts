/**
 * The intrusion detection's shared state in Redis (docs/ids.md, "Intrusion
 * detection across instances"). Keys (after `redis.keyPrefix`):
 *
 *   ids:c:<rule|kind|partner>:<window>  a counter's count in one aligned window (INCRBY), PX 2 intervals + 1 s
 *   ids:d:<rule|kind|partner>:<window>  scan: the identities tried in one window (SADD), same expiry
 *   ids:b:<target>                      a block (JSON), PX = its remaining time
 *   ids:bi                              index of the blocks: target → end (ms), for an instance that starts
 *   channel <prefix>ids:blocks          {from, op: block|unblock, ...} to every instance (SUBSCRIBE, second connection)
 *
 * A partner name longer than 120 characters is replaced by its SHA-256, so that
 * no key grows with what a client sends.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CounterFlush, CounterRef, CounterTotals, IdsSharedBackend, IdsSharedListener } from '../../ids/shared.js';
import type { BlockEntry, BlockScope } from '../../ids/types.js';
import type { Config } from '../../config/load.js';
import type { Logger } from '../../log/logger.js';
import type { SharedRedis } from './client.js';
import { sharedRedisFromConfig } from './index.js';

export interface RedisIdsOptions {
  /** Blocks kept in Redis at most (the one that ends first goes), and read at a start. */
  maxBlocks?: number;
  /** Told of a malformed message on the channel (never expected: Redis is ours). */
  onBadMessage?: (why: string) => void;
}

const CHANNEL = 'ids:blocks';
const BLOCK_INDEX = 'ids:bi';

/**
 * Writes a block unless one that ends later is there; publishes it when written.
 * KEYS: block key, index. ARGV: target, json, until, now, channel, message, max blocks, block key prefix.
 */
const PUT_BLOCK = `
local old = redis.call('ZSCORE', KEYS[2], ARGV[1])
local untilMs = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if old and tonumber(old) >= untilMs and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', math.max(1, untilMs - now))
redis.call('ZADD', KEYS[2], untilMs, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if over > 0 then
  for _, t in ipairs(redis.call('ZPOPMIN', KEYS[2], over)) do
    if _ % 2 == 1 then redis.call('DEL', ARGV[8] .. t) end
  end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

const SCOPES: readonly BlockScope[] = ['flow', 'address', 'identity'];

function partnerKey(ref: string): string {
  return ref.length <= 120 ? ref : createHash('sha256').update(ref).digest('base64url');
}

function ttlMs(intervalMs: number): number {
  return 2 * intervalMs + 1000;
}

/** A block as read from Redis or the channel; undefined when it is not one. */
function asBlock(v: unknown): BlockEntry | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.target !== 'string' || o.target.length === 0 || o.target.length > 300) return undefined;
  if (!SCOPES.includes(o.scope as BlockScope)) return undefined;
  if (typeof o.until !== 'number' || typeof o.since !== 'number' || !Number.isFinite(o.until) || !Number.isFinite(o.since)) return undefined;
  const text = (x: unknown): string => (typeof x === 'string' ? x.slice(0, 300) : '');
  return { target: o.target, scope: o.scope as BlockScope, rule: text(o.rule), reason: text(o.reason), since: o.since, until: o.until, hits: 0 };
}

/** The IDS's shared state on this Redis; `shared` is closed with it (the IDS owns its connections). */
export function redisIdsBackend(shared: SharedRedis, o: RedisIdsOptions = {}): IdsSharedBackend {
  const me = randomUUID();
  const prefix = shared.prefix;
  const channel = `${prefix}${CHANNEL}`;
  const maxBlocks = o.maxBlocks ?? 100_000;
  let listener: IdsSharedListener | undefined;
  // Pub/sub needs a connection of its own; it reconnects on its own and subscribes again each time.
  const sub: Redis = shared.redis.duplicate({ lazyConnect: true, autoResubscribe: false, enableOfflineQueue: true });
  sub.on('error', () => {
    /* availability is the main connection's to report */
  });
  sub.on('ready', () => {
    sub.subscribe(channel).catch(() => {
      /* reconnection subscribes again */
    });
  });
  sub.on('message', (ch: string, msg: string) => {
    if (ch !== channel || !listener) return;
    let m: { from?: unknown; op?: unknown; entry?: unknown; target?: unknown };
    try {
      m = JSON.parse(msg) as typeof m;
    } catch {
      o.onBadMessage?.('not JSON');
      return;
    }
    if (m.from === me) return;
    if (m.op === 'block') {
      const e = asBlock(m.entry);
      if (e) listener.block(e);
      else o.onBadMessage?.('block without a valid entry');
    } else if (m.op === 'unblock' && typeof m.target === 'string' && m.target.length <= 300) listener.unblock(m.target);
    else o.onBadMessage?.('unknown operation');
  });
  sub.connect().catch(() => {
    /* retried by the retry strategy */
  });
  // Each time the main connection is ready again, the IDS resynchronises its blocks.
  const onReady = (): void => listener?.available();
  shared.redis.on('ready', onReady);

  const counterKey = (kind: 'c' | 'd', ref: string, w: number): string => `ids:${kind}:${partnerKey(ref)}:${w}`;
  const forgetKeys = (refs: readonly CounterRef[], now: number): string[] => {
    const keys: string[] = [];
    for (const r of refs) {
      const w = Math.floor(now / r.intervalMs);
      for (const x of [w, w - 1]) keys.push(counterKey('c', r.ref, x), counterKey('d', r.ref, x));
    }
    return keys;
  };

  return {
    get available() {
      return shared.available;
    },

    async flush(batch: readonly CounterFlush[], forget: readonly CounterRef[], now: number): Promise<CounterTotals[]> {
      return shared.run(async (r) => {
        const p = r.pipeline();
        if (forget.length > 0) p.del(...forgetKeys(forget, now));
        // Per item, the index of the reply that holds each total.
        const at: Array<{ cur: number; prev: number }> = [];
        let n = forget.length > 0 ? 1 : 0;
        for (const f of batch) {
          const px = ttlMs(f.intervalMs);
          if (f.distinct) {
            const k = counterKey('d', f.ref, f.window);
            if (f.ids && f.ids.length > 0) {
              p.sadd(k, ...f.ids).pexpire(k, px);
              n += 2;
            }
            p.scard(k);
            at.push({ cur: n, prev: -1 });
            n += 1;
            continue;
          }
          const k = counterKey('c', f.ref, f.window);
          const kp = counterKey('c', f.ref, f.window - 1);
          if (f.prevAdd > 0) {
            p.incrby(kp, f.prevAdd).pexpire(kp, px);
            n += 2;
          }
          p.incrby(k, f.add).pexpire(k, px).get(kp);
          at.push({ cur: n, prev: n + 2 });
          n += 3;
        }
        const replies = (await p.exec()) ?? [];
        for (const [err] of replies) if (err) throw err;
        const num = (i: number): number => {
          if (i < 0) return 0;
          const v = replies[i]?.[1];
          const x = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0;
          return Number.isFinite(x) ? x : 0;
        };
        return at.map((a) => ({ cur: num(a.cur), prev: num(a.prev) }));
      });
    },

    async putBlock(e: BlockEntry, now: number): Promise<void> {
      const entry = { target: e.target, scope: e.scope, rule: e.rule, reason: e.reason, since: e.since, until: e.until };
      const msg = JSON.stringify({ from: me, op: 'block', entry });
      await shared.run((r) => r.eval(PUT_BLOCK, 2, `ids:b:${e.target}`, BLOCK_INDEX, e.target, JSON.stringify(entry), String(e.until), String(now), channel, msg, String(maxBlocks), `${prefix}ids:b:`));
    },

    async removeBlock(targets: readonly string[], counters: readonly CounterRef[], now: number): Promise<void> {
      await shared.run(async (r) => {
        const p = r.multi();
        p.del(...targets.map((t) => `ids:b:${t}`), ...forgetKeys(counters, now));
        p.zrem(BLOCK_INDEX, ...targets);
        for (const t of targets) p.publish(channel, JSON.stringify({ from: me, op: 'unblock', target: t }));
        const replies = (await p.exec()) ?? [];
        for (const [err] of replies) if (err) throw err;
      });
    },

    async loadBlocks(now: number): Promise<BlockEntry[]> {
      return shared.run(async (r) => {
        const targets = await r.zrangebyscore(BLOCK_INDEX, now + 1, '+inf', 'LIMIT', 0, maxBlocks);
        const out: BlockEntry[] = [];
        for (let i = 0; i < targets.length; i += 1000) {
          const vals = await r.mget(...targets.slice(i, i + 1000).map((t) => `ids:b:${t}`));
          for (const v of vals) {
            if (v === null) continue;
            try {
              const e = asBlock(JSON.parse(v));
              if (e && e.until > now) out.push(e);
            } catch {
              // not ours
            }
          }
        }
        return out;
      });
    },

    listen(l: IdsSharedListener): void {
      listener = l;
    },

    async close(): Promise<void> {
      shared.redis.off('ready', onReady);
      sub.removeAllListeners('ready');
      try {
        await sub.quit();
      } catch {
        sub.disconnect();
      }
      await shared.close();
    },
  };
}

/**
 * The IDS's shared state from `redis.*`, made when the IDS starts; undefined
 * without Redis. Its own connections (a command one and a subscriber), so that
 * the IDS's exchange never waits behind another role's.
 */
export function idsSharedFromConfig(cfg: Config, logger: Logger): () => IdsSharedBackend | undefined {
  return () => {
    const shared = sharedRedisFromConfig(cfg, logger, 'ids', 'each instance detects alone until it returns');
    return shared ? redisIdsBackend(shared, { maxBlocks: cfg.ids.maxPartners, onBadMessage: (why) => logger.warn({ why }, 'ids: message on the shared channel ignored') }) : undefined;
  };
}
