import type { OutstandingChallenge, SbcReplayState } from '../../flow/sbc-state.js';
import type { SeenVerdict } from '../../flow/replay.js';
import type { SharedRedis } from './client.js';

/**
 * The SBC's KS1 replay state on Redis, shared by the instances of a pool
 * (docs/scale-out.md, "SBC state in Redis"):
 *
 *   sbc:n1:<IDsp>:<N1 hex>   string "1", SET NX PX   — the seen-N1 table: the first SET wins
 *   sbc:n2:<IDsp>:<N2 hex>   string, SET NX PX, GETDEL — an outstanding challenge, taken once
 *
 * Each step is one command, atomic in Redis, so an s7 may land on any
 * instance and still be served once. Nothing here is secret (IDc and Rand
 * travel in clear in s6); expiry is Redis's (PX), checked again on take.
 * Errors reaching Redis reject with `RedisUnavailableError` (retryAfterSeconds),
 * which the flow answers as "busy, retry after".
 */
export class RedisSbcState implements SbcReplayState {
  readonly #r: SharedRedis;
  readonly #n1: string;
  readonly #n2: string;

  constructor(shared: SharedRedis, idsp: string) {
    this.#r = shared;
    this.#n1 = `sbc:n1:${idsp}:`;
    this.#n2 = `sbc:n2:${idsp}:`;
  }

  readonly stats = { seenNonces: 0, outstanding: 0 };

  async recordN1(n1: Buffer, expiresAt: number, now: number): Promise<SeenVerdict> {
    const ttl = Math.max(1, Math.ceil(expiresAt - now));
    const r = await this.#r.run((c) => c.set(this.#n1 + n1.toString('hex'), '1', 'PX', ttl, 'NX'));
    return r === 'OK' ? 'fresh' : 'seen';
  }

  async putChallenge(n2: Buffer, ch: OutstandingChallenge, now: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ch.expiresAt - now));
    const v = `${ch.expiresAt} ${ch.rand.toString('hex')} ${ch.idc}`;
    const r = await this.#r.run((c) => c.set(this.#n2 + n2.toString('hex'), v, 'PX', ttl, 'NX'));
    return r === 'OK';
  }

  async takeChallenge(n2: Buffer, now: number): Promise<OutstandingChallenge | undefined> {
    const v = await this.#r.run((c) => c.getdel(this.#n2 + n2.toString('hex')));
    if (v === null) return undefined;
    const a = v.indexOf(' ');
    const b = v.indexOf(' ', a + 1);
    if (a < 0 || b < 0) return undefined;
    const expiresAt = Number(v.slice(0, a));
    if (!(expiresAt > now)) return undefined;
    return { expiresAt, rand: Buffer.from(v.slice(a + 1, b), 'hex'), idc: v.slice(b + 1) };
  }

  sweep(): void {
    // Redis expires the keys itself.
  }
}
