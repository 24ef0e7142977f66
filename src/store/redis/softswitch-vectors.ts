import type { HeldVector, TerminalRefusal, VectorState } from '../../flow/softswitch-state.js';
import type { SharedRedis } from './client.js';

/**
 * The softswitch's vectors between s5 and s8 on Redis, shared by the
 * softswitch instances (docs/scale-out.md):
 *
 *   ss:vec:<Rand hex>   string, SET NX PX, GETDEL — taken once, by whichever instance gets the s8
 *
 * The value holds IDc, IDsp, the SHA-256 of the expected authenticator (not
 * the authenticator: reading Redis gives nothing an s8 can be made from), the
 * keys as the AuC wrapped them for the terminal and the SBC, the expiry, and
 * for a decoy why the AuC refused. Unreachable Redis rejects with
 * `RedisUnavailableError`; the flow answers busy (503 with Retry-After).
 */
export class RedisVectorState implements VectorState {
  readonly size = 0;

  constructor(private readonly r: SharedRedis) {}

  async put(rand: Buffer, v: HeldVector, now: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(v.expiresAt - now));
    const fields = [v.expiresAt, v.idc, v.idsp, v.authenticatorHash.toString('base64'), v.ekc.toString('base64'), v.eksp.toString('base64'), v.refused ?? ''];
    const r = await this.r.run((c) => c.set(`ss:vec:${rand.toString('hex')}`, JSON.stringify(fields), 'PX', ttl, 'NX'));
    return r === 'OK';
  }

  async take(rand: Buffer, now: number): Promise<HeldVector | undefined> {
    const raw = await this.r.run((c) => c.getdel(`ss:vec:${rand.toString('hex')}`));
    if (raw === null) return undefined;
    let f: unknown;
    try {
      f = JSON.parse(raw);
    } catch {
      return undefined;
    }
    if (!Array.isArray(f) || f.length !== 7) return undefined;
    const [expiresAt, idc, idsp, ah, ekc, eksp, refused] = f as [number, string, string, string, string, string, string];
    if (typeof expiresAt !== 'number' || !(expiresAt > now)) return undefined;
    const v: HeldVector = {
      idc: String(idc),
      idsp: String(idsp),
      authenticatorHash: Buffer.from(String(ah), 'base64'),
      ekc: Buffer.from(String(ekc), 'base64'),
      eksp: Buffer.from(String(eksp), 'base64'),
      expiresAt,
    };
    if (refused) v.refused = refused as TerminalRefusal;
    return v;
  }

  sweep(): void {
    // Redis expires the keys itself.
  }
}
