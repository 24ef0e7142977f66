import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { KeyVault } from '../../crypto/vault.js';
import type { SharedRedis } from './client.js';

/**
 * The SBC's registered terminals on Redis, shared by the instances of a pool
 * (docs/scale-out.md, "SBC state in Redis"). One hash per terminal:
 *
 *   sbc:reg:{<IDsp>|<IDc>}   hash, PEXPIRE = the registration's remaining lifetime
 *     k   Kc,sp sealed under the master key (KeyVault), bound to IDsp, IDc and t
 *     t   registeredAt (Unix ms): the registration's generation
 *     e   expiresAt (Unix ms)
 *     m   mechanism, p protocol, a address (as the adapter wrote it)
 *     up  app-hmac: the highest terminal → SBC sequence number accepted (any instance)
 *     dn  app-hmac: SBC → terminal sequence blocks handed out (one per instance that serves it)
 *   sbc:win:{<IDsp>|<IDc>}   bitmap, the uplink replay window below `up` (same expiry)
 *
 * and one channel, `<prefix>sbc:changed:<IDsp>`, on which every write
 * (`<instance> <mechanism> <IDc>`) or removal (`<instance> - <IDc>`) is
 * announced so that the other instances drop their cached copy — and read a
 * new tls-psk registration at once: the TLS stack asks for Kc,sp synchronously.
 *
 * Each instance keeps a cache (src/sbc/sessions.ts); Redis is the authority
 * for what a terminal may still send: an app-hmac uplink message is claimed
 * here (one script call) before it is accepted, so a message one instance
 * accepted is refused by every other.
 */

/** A session as stored: everything but the derived keys (derived again from Kc,sp where it is read). */
export interface StoredSession {
  idc: string;
  idsp: string;
  protocol: string;
  address: string;
  mechanism: string;
  kcsp: Buffer;
  registeredAt: number;
  expiresAt: number;
}

/** The downlink sequence block one instance signs from: 2^32 numbers each (never exhausted in a registration). */
export const DOWNLINK_BLOCK = 2 ** 32;

export type UplinkClaim = 'ok' | 'replayed' | 'too-old' | 'gone';

const CLAIM_UP = `
local t = redis.call('HGET', KEYS[1], 't')
if t ~= ARGV[1] then return {'gone', 0} end
local seq = tonumber(ARGV[2])
local w = tonumber(ARGV[3])
local top = tonumber(redis.call('HGET', KEYS[1], 'up') or '0')
if seq <= top then
  if top - seq >= w then return {'too-old', 0} end
  if redis.call('GETBIT', KEYS[2], seq % w) == 1 then return {'replayed', 0} end
else
  if seq - top >= w then
    redis.call('DEL', KEYS[2])
  else
    for s = top + 1, seq - 1 do redis.call('SETBIT', KEYS[2], s % w, 0) end
  end
  redis.call('HSET', KEYS[1], 'up', ARGV[2])
end
redis.call('SETBIT', KEYS[2], seq % w, 1)
local left = redis.call('PTTL', KEYS[1])
if left > 0 then redis.call('PEXPIRE', KEYS[2], left) end
local dn = tonumber(redis.call('HGET', KEYS[1], 'dn'))
if dn ~= tonumber(ARGV[4]) then dn = redis.call('HINCRBY', KEYS[1], 'dn', 1) end
return {'ok', dn}
`;

/** The downlink block to sign with: the caller's if no other instance took one since, else a new one (0: gone). */
const DOWNLINK = `
if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return 0 end
local dn = tonumber(redis.call('HGET', KEYS[1], 'dn'))
if dn ~= tonumber(ARGV[2]) then dn = redis.call('HINCRBY', KEYS[1], 'dn', 1) end
return dn
`;

/** Reads a registration and hands out the next downlink block, in one step; nothing when there is none. */
const READ = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local dn = redis.call('HINCRBY', KEYS[1], 'dn', 1)
return {dn, redis.call('HGETALL', KEYS[1])}
`;

/** Removes the registration only if it is the generation named (or older than `before`). */
const REMOVE_IF = `
local t = redis.call('HGET', KEYS[1], 't')
if not t then return 0 end
if ARGV[1] ~= '' and t ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and tonumber(t) > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`;

/** Moves the expiry of one generation (a refresh proved by its mechanism). */
const TOUCH = `
if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
`;

type Scripts = Redis & {
  ksSbcRead(reg: string): Promise<[number, string[]] | null>;
  ksSbcClaimUp(reg: string, win: string, gen: string, seq: string, window: string, block: string): Promise<[string, number]>;
  ksSbcDownlink(reg: string, gen: string, block: string): Promise<number>;
  ksSbcRemoveIf(reg: string, win: string, gen: string, before: string): Promise<number>;
  ksSbcTouch(reg: string, win: string, gen: string, expiresAt: string, ttlMs: string): Promise<number>;
};

export class RedisSbcSessions {
  readonly #r: SharedRedis;
  readonly #vault: KeyVault;
  readonly #idsp: string;
  readonly #channel: string;
  #sub: Redis | undefined;
  /** Names this instance's messages on the channel, which it ignores. */
  readonly #instance = randomBytes(8).toString('hex');

  constructor(shared: SharedRedis, vault: KeyVault, idsp: string) {
    this.#r = shared;
    this.#vault = vault;
    this.#idsp = idsp;
    this.#channel = `${shared.prefix}sbc:changed:${idsp}`;
    const r = shared.redis as Scripts;
    if (typeof r.ksSbcClaimUp !== 'function') {
      r.defineCommand('ksSbcClaimUp', { numberOfKeys: 2, lua: CLAIM_UP });
      r.defineCommand('ksSbcRead', { numberOfKeys: 1, lua: READ });
      r.defineCommand('ksSbcDownlink', { numberOfKeys: 1, lua: DOWNLINK });
      r.defineCommand('ksSbcRemoveIf', { numberOfKeys: 2, lua: REMOVE_IF });
      r.defineCommand('ksSbcTouch', { numberOfKeys: 2, lua: TOUCH });
    }
  }

  // One hash slot per terminal ({…}): the scripts touch its two keys together, also on a cluster.
  #reg(idc: string): string {
    return `sbc:reg:{${this.#idsp}|${idc}}`;
  }
  #win(idc: string): string {
    return `sbc:win:{${this.#idsp}|${idc}}`;
  }
  #binding(idc: string, registeredAt: number): string {
    return `sbc-session|${this.#idsp}|${idc}|${registeredAt}`;
  }

  /** Writes a new registration (a new generation: fresh app-hmac state; this instance signs from block 0). */
  async put(s: StoredSession): Promise<void> {
    const reg = this.#reg(s.idc);
    const fields = {
      k: this.#vault.seal(s.kcsp, this.#binding(s.idc, s.registeredAt)),
      t: String(s.registeredAt), e: String(s.expiresAt), m: s.mechanism, p: s.protocol, a: s.address, up: '0', dn: '1',
    };
    await this.#r.run((c) => c.multi().del(reg, this.#win(s.idc)).hset(reg, fields).pexpire(reg, lifetime(s.expiresAt)).publish(this.#channel, `${this.#instance} ${s.mechanism} ${s.idc}`).exec());
  }

  /**
   * A registration made through another instance, unsealed, with the first
   * downlink sequence number this instance may sign with (its own block).
   */
  async get(idc: string, now: number): Promise<(StoredSession & { downlinkBlock: number }) | undefined> {
    const res = await this.#r.run((c) => (c as Scripts).ksSbcRead(this.#reg(idc)));
    if (!res) return undefined;
    const block = Number(res[0]);
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < res[1].length; i += 2) h[res[1][i]!] = res[1][i + 1]!;
    if (!h.k || !h.t) return undefined;
    const registeredAt = Number(h.t);
    const expiresAt = Number(h.e);
    if (!(expiresAt > now)) return undefined;
    let kcsp: Buffer;
    try {
      kcsp = this.#vault.open(h.k, this.#binding(idc, registeredAt));
    } catch {
      return undefined; // sealed under another master key, or tampered with: not a registration we can serve
    }
    return {
      idc, idsp: this.#idsp, protocol: h.p ?? '', address: h.a ?? '', mechanism: h.m ?? '', kcsp, registeredAt, expiresAt,
      downlinkBlock: block,
    };
  }

  /**
   * Claims an app-hmac uplink sequence number for the generation `registeredAt`
   * (after its tag verified). With 'ok' comes the downlink block this instance
   * signs with from now on: `block` if no other instance took one since, else a new one.
   */
  async claimUplink(idc: string, registeredAt: number, seq: number, window: number, block = 0): Promise<{ claim: UplinkClaim; block: number }> {
    const [claim, b] = await this.#r.run((c) => (c as Scripts).ksSbcClaimUp(this.#reg(idc), this.#win(idc), String(registeredAt), String(seq), String(window), String(block)));
    return { claim: claim as UplinkClaim, block: Number(b) };
  }

  /** Before signing a request to the terminal: the block to sign with (as claimUplink), 0 when the registration is gone. */
  async downlinkBlock(idc: string, registeredAt: number, block: number): Promise<number> {
    return Number(await this.#r.run((c) => (c as Scripts).ksSbcDownlink(this.#reg(idc), String(registeredAt), String(block))));
  }

  /** A refresh: the generation's new expiry. False when it is no longer the registration there. */
  async touch(idc: string, registeredAt: number, expiresAt: number): Promise<boolean> {
    const n = await this.#r.run((c) => (c as Scripts).ksSbcTouch(this.#reg(idc), this.#win(idc), String(registeredAt), String(expiresAt), String(lifetime(expiresAt))));
    return n === 1;
  }

  /**
   * Removes the registration of `idc`: the generation `registeredAt` if given,
   * else any registered at or before `before` (an operator's drop), else whatever is there.
   */
  async remove(idc: string, o: { registeredAt?: number; before?: number } = {}): Promise<boolean> {
    const n = await this.#r.run((c) => (c as Scripts).ksSbcRemoveIf(this.#reg(idc), this.#win(idc), o.registeredAt !== undefined ? String(o.registeredAt) : '', o.before !== undefined ? String(o.before) : ''));
    await this.#r.run((c) => c.publish(this.#channel, `${this.#instance} - ${idc}`));
    return n === 1;
  }

  /**
   * Calls `onChange(idc, mechanism)` for every registration another instance
   * writes (`mechanism`) or removes (undefined), and `onChange(undefined)`
   * after the subscription was lost and came back (changes may have been
   * missed: drop every cached copy).
   */
  watch(onChange: (idc: string | undefined, mechanism?: string) => void): void {
    const sub = this.#r.redis.duplicate({ keyPrefix: '', enableOfflineQueue: true, lazyConnect: false });
    this.#sub = sub;
    let readyOnce = false;
    sub.on('error', () => {
      /* reconnects by itself; the main connection reports availability */
    });
    sub.on('ready', () => {
      if (readyOnce) onChange(undefined);
      readyOnce = true;
    });
    sub.on('message', (_ch: string, m: string) => {
      const a = m.indexOf(' ');
      const b = m.indexOf(' ', a + 1);
      if (a < 0 || b < 0 || m.slice(0, a) === this.#instance) return;
      const mech = m.slice(a + 1, b);
      onChange(m.slice(b + 1), mech === '-' ? undefined : mech);
    });
    // Not awaited: a role starting while Redis is down starts all the same (and answers 503 until it is back).
    sub.subscribe(this.#channel).catch(() => undefined);
  }

  async close(): Promise<void> {
    const s = this.#sub;
    this.#sub = undefined;
    if (s) {
      try {
        await s.quit();
      } catch {
        s.disconnect();
      }
    }
  }
}

/**
 * A registration's remaining lifetime, given to Redis as a relative TTL: Redis
 * keeps its own clock, which need not agree with the SBC hosts' (an absolute
 * PEXPIREAT would expire early or late by their skew).
 */
function lifetime(expiresAt: number): number {
  return Math.max(1, Math.ceil(expiresAt - Date.now()));
}
