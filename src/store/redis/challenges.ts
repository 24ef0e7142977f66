import { randomBytes } from 'node:crypto';
import { MAX_GRANTS, type Challenge, type ChallengeStore, type NewChallenge } from '../volatile/challenges.js';
import type { SharedRedis } from './client.js';
import { RedisScript } from './script.js';

/**
 * Outstanding challenges shared by every AuC replica on one Redis
 * (docs/scale-out.md, "Softswitch and AuC state in Redis"), so that the s7
 * after an s1 may reach any replica and a Rand is still used once only.
 *
 * - `ch:<Rand>`: a hash (idc, idsp, requester, created, expires, used) whose
 *   TTL is the challenge's lifetime. Consuming it is one Lua script: the
 *   check (owner, unused, not expired) and the mark are one atomic step, so
 *   two replicas given the same Rand at once accept it once.
 * - `dg:<IDc>\0<requester>`: a sorted set of Digest grants scored by their
 *   expiry; consuming one removes the earliest live member atomically.
 *
 * Each operation is one round trip. Expiry is Redis's (TTL), so nothing
 * needs purging here. Errors of reaching Redis surface as
 * RedisUnavailableError: the AuC then does not answer, and the softswitch
 * answers its terminal 503 with Retry-After.
 */

const ADD = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'idc', ARGV[1], 'idsp', ARGV[2], 'rq', ARGV[3], 'c', ARGV[4], 'e', ARGV[5], 'u', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1`;

const CONSUME = `
local v = redis.call('HMGET', KEYS[1], 'idc', 'idsp', 'u', 'e')
if not v[1] or v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or v[3] ~= '0' or tonumber(v[4]) <= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'u', '1')
return 1`;

const CONSUME_FROM = `
local v = redis.call('HMGET', KEYS[1], 'idc', 'idsp', 'rq', 'u', 'e')
if not v[1] or v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or v[3] ~= ARGV[3] then return -1 end
if v[4] ~= '0' or tonumber(v[5]) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], 'u', '1')
return 1`;

const GRANT = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n > tonumber(ARGV[4]) then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - tonumber(ARGV[4]) - 1) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

const TAKE_GRANT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local m = redis.call('ZRANGE', KEYS[1], 0, 0)
if #m == 0 then return 0 end
redis.call('ZREM', KEYS[1], m[1])
return 1`;

const SCRIPTS = {
  add: new RedisScript(ADD, 1),
  consume: new RedisScript(CONSUME, 1),
  consumeFrom: new RedisScript(CONSUME_FROM, 1),
  grant: new RedisScript(GRANT, 1),
  takeGrant: new RedisScript(TAKE_GRANT, 1),
};

export class RedisChallengeStore implements ChallengeStore {
  constructor(private readonly shared: SharedRedis, private readonly now: () => number) {}

  /** Not known without a scan of Redis; the metrics that read it see 0 (the AuC's in-memory gauge is per process anyway). */
  get size(): number {
    return 0;
  }

  async add(c: NewChallenge): Promise<void> {
    const t = this.now();
    const ok = await this.shared.run((r) => SCRIPTS.add.run(r, [chKey(c.rand)], [c.idc, c.idsp, c.requester ?? '', t, c.expiresAt, ttl(c.expiresAt, t)]));
    if (ok !== 1) throw new Error('duplicate challenge');
  }

  async get(rand: string): Promise<Challenge | undefined> {
    const h = await this.shared.run((r) => r.hgetall(chKey(rand)));
    if (h.idc === undefined) return undefined;
    return { rand, idc: h.idc, idsp: h.idsp ?? '', requester: h.rq ?? '', createdAt: Number(h.c), expiresAt: Number(h.e), used: h.u === '1', kind: 'ks1' };
  }

  async consume(rand: string, idc: string, idsp: string): Promise<boolean> {
    return (await this.shared.run((r) => SCRIPTS.consume.run(r, [chKey(rand)], [idc, idsp, this.now()]))) === 1;
  }

  async consumeFrom(rand: string, idc: string, idsp: string, requester: string): Promise<'refused' | 'used' | 'ok'> {
    const r = await this.shared.run((c) => SCRIPTS.consumeFrom.run(c, [chKey(rand)], [idc, idsp, requester, this.now()]));
    return r === 1 ? 'ok' : r === 0 ? 'used' : 'refused';
  }

  async grantDigest(idc: string, requester: string, expiresAt: number): Promise<void> {
    const member = randomBytes(12).toString('base64url');
    await this.shared.run((r) => SCRIPTS.grant.run(r, [dgKey(idc, requester)], [expiresAt, member, ttl(expiresAt, this.now()), MAX_GRANTS]));
  }

  async consumeDigestGrant(idc: string, requester: string): Promise<boolean> {
    return (await this.shared.run((r) => SCRIPTS.takeGrant.run(r, [dgKey(idc, requester)], [this.now()]))) === 1;
  }

  /** Redis expires them (TTL). */
  async purgeExpired(): Promise<number> {
    return 0;
  }
}

const chKey = (rand: string): string => `ch:${rand}`;
const dgKey = (idc: string, requester: string): string => `dg:${idc}\0${requester}`;
/** Redis's TTL in ms from the caller's clock (never 0: PEXPIRE 0 deletes). */
const ttl = (expiresAt: number, now: number): number => Math.max(1, Math.ceil(expiresAt - now));
