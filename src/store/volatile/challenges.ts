import { dropOldest } from '../../lib/map-eviction.js';

export type ChallengeKind = 'ks1' | 'digest';

export interface Challenge {
  rand: string;
  idc: string;
  idsp: string;
  createdAt: number;
  expiresAt: number;
  used: boolean;
  /** The wire peer that asked for it ('' for in-process calls). */
  requester: string;
  kind: ChallengeKind;
}

export type NewChallenge = Omit<Challenge, 'used' | 'createdAt' | 'requester' | 'kind'> & { requester?: string };

/**
 * Outstanding challenges: each Rand is single-use and expires. Beside KS1
 * challenges the store keeps Digest grants: "this requester was given HA1
 * for this IDc", which entitles it to one Digest outcome report.
 *
 * Volatile state: it lives seconds, is written and read once per
 * registration, and losing it (a restart) only makes the registrations in
 * flight start again. So it is kept out of the database; an implementation
 * shared by several AuC instances (Redis) can take this interface's place.
 */
export interface ChallengeStore {
  add(c: NewChallenge): Promise<void>;
  get(rand: string): Promise<Challenge | undefined>;
  /** Marks a Rand used if it is an outstanding KS1 challenge for (idc, idsp) and not expired; true for the one caller that did. */
  consume(rand: string, idc: string, idsp: string): Promise<boolean>;
  /**
   * `get` and `consume` in one step, for a store where each is a round trip
   * (Redis): `refused` when the Rand is no KS1 challenge issued to `requester`
   * for (idc, idsp), `used` when it was used already or expired, `ok` for the
   * one caller that marked it used.
   */
  consumeFrom?(rand: string, idc: string, idsp: string, requester: string): Promise<'refused' | 'used' | 'ok'>;
  /** Records that `requester` was given Digest HA1 (or a decoy) for `idc`. */
  grantDigest(idc: string, requester: string, expiresAt: number): Promise<void>;
  /** Uses up one outstanding Digest grant of `requester` for `idc`; false when it holds none. */
  consumeDigestGrant(idc: string, requester: string): Promise<boolean>;
  /** Drops what expired (at or before `olderThan`); returns how many. */
  purgeExpired(olderThan?: number): Promise<number>;
  readonly size: number;
}

/**
 * Unused Digest grants kept per (IDc, requester), here and in Redis; older ones go first (a Digest
 * attempt in flight on one then fails, never succeeds twice).
 */
export const MAX_GRANTS = 64;

/** Default bound: 60 s of challenges at 5,000 registrations/s. */
export const MAX_CHALLENGES = 300_000;

/**
 * The in-process ChallengeStore. Bounded: at `max` entries the oldest sixteenth goes
 * (a registration still in flight on it then fails and starts again, never
 * succeeds twice). Used Rands stay until they expire so that a second report
 * on one is told apart from a report on a Rand never issued (both refused).
 */
export class MemoryChallengeStore implements ChallengeStore {
  /** By Rand for KS1; by `dg.<serial>` for Digest grants. Insertion order is creation order. */
  readonly #byKey = new Map<string, Challenge>();
  /** IDc \0 requester → keys of its unused Digest grants, oldest first. */
  readonly #grants = new Map<string, string[]>();
  #lastSweep = 0;
  #grantSerial = 0;

  constructor(private readonly now: () => number, private readonly max = MAX_CHALLENGES) {}

  get size(): number {
    return this.#byKey.size;
  }

  #insert(c: Challenge): void {
    const t = c.createdAt;
    // Amortised: a full pass at most once a second, the rest is bounded by `max`.
    if (t - this.#lastSweep >= 1000) this.#sweep(t);
    if (this.#byKey.size >= this.max) {
      // The oldest sixteenth at once: one per insert made each `keys()` walk from the Map's start cross
      // the holes of every entry dropped before (40 µs per challenge at the cap, in process).
      dropOldest(this.#byKey, this.#byKey.size - this.max + 1 + (this.max >> 4), (c, key) => {
        if (c.kind === 'digest') this.#ungrant(c, key);
      });
    }
    this.#byKey.set(c.rand, c);
  }

  #drop(key: string): void {
    const c = this.#byKey.get(key);
    if (!c) return;
    this.#byKey.delete(key);
    if (c.kind === 'digest') this.#ungrant(c, key);
  }

  #ungrant(c: Challenge, key: string): void {
    const gk = c.idc + '\0' + c.requester;
    const list = this.#grants.get(gk);
    if (!list) return;
    const i = list.indexOf(key);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#grants.delete(gk);
  }

  #sweep(t: number): number {
    this.#lastSweep = t;
    let n = 0;
    for (const [key, c] of this.#byKey) {
      if (c.expiresAt <= t) {
        this.#drop(key);
        n++;
      }
    }
    return n;
  }

  async add(c: NewChallenge): Promise<void> {
    if (this.#byKey.has(c.rand)) throw new Error('duplicate challenge');
    this.#insert({ rand: c.rand, idc: c.idc, idsp: c.idsp, createdAt: this.now(), expiresAt: c.expiresAt, used: false, requester: c.requester ?? '', kind: 'ks1' });
  }

  async get(rand: string): Promise<Challenge | undefined> {
    const c = this.#byKey.get(rand);
    return c ? { ...c } : undefined;
  }

  async consume(rand: string, idc: string, idsp: string): Promise<boolean> {
    const c = this.#byKey.get(rand);
    if (!c || c.kind !== 'ks1' || c.used || c.idc !== idc || c.idsp !== idsp || c.expiresAt <= this.now()) return false;
    c.used = true;
    return true;
  }

  async grantDigest(idc: string, requester: string, expiresAt: number): Promise<void> {
    const gk = idc + '\0' + requester;
    // A refresh the softswitch does not report leaves its grant unused until it expires; past the bound the oldest goes (as in Redis).
    const held = this.#grants.get(gk);
    if (held && held.length >= MAX_GRANTS) this.#drop(held[0]!);
    // Its key is no Rand ('.' is not base64url) and never leaves this store: a serial does (a random one cost a trip into OpenSSL per Digest).
    const key = `dg.${++this.#grantSerial}`;
    this.#insert({ rand: key, idc, idsp: '', createdAt: this.now(), expiresAt, used: false, requester, kind: 'digest' });
    const list = this.#grants.get(gk);
    if (list) list.push(key);
    else this.#grants.set(gk, [key]);
  }

  async consumeDigestGrant(idc: string, requester: string): Promise<boolean> {
    const gk = idc + '\0' + requester;
    const list = this.#grants.get(gk);
    if (!list) return false;
    const t = this.now();
    // The one expiring first that has not expired (grants of one AuC all live challengeTtl, so that is the oldest).
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      const c = this.#byKey.get(list[i]!);
      if (c && !c.used && c.expiresAt > t && (best < 0 || c.expiresAt < this.#byKey.get(list[best]!)!.expiresAt)) best = i;
    }
    if (best < 0) return false;
    const key = list[best]!;
    list.splice(best, 1);
    if (list.length === 0) this.#grants.delete(gk);
    this.#byKey.get(key)!.used = true;
    return true;
  }

  async purgeExpired(olderThan = this.now()): Promise<number> {
    return this.#sweep(olderThan);
  }
}
