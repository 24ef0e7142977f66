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

/** A KS1 challenge as held: `seq` orders it among grants at the bound's cut. */
interface HeldChallenge extends Challenge {
  readonly seq: number;
}

/** One (IDc, requester)'s unused Digest grants, oldest first: their serials and expiry times. */
interface GrantHolder {
  readonly idc: string;
  readonly requester: string;
  readonly byIdc: Map<string, GrantHolder>;
  readonly serials: number[];
  readonly expires: number[];
  /** Entries of the grant log that name this holder; it leaves its map when none is left. */
  logged: number;
}

/**
 * The in-process ChallengeStore. Bounded: at `max` entries the oldest sixteenth goes
 * (a registration still in flight on it then fails and starts again, never
 * succeeds twice). Used Rands stay until they expire so that a second report
 * on one is told apart from a report on a Rand never issued (both refused).
 *
 * A Digest grant is no `Challenge`: a serial and an expiry time in its (IDc,
 * requester)'s holder, and an entry in the grant log (all grants in issue
 * order, used ones too, until they expire). The log is what the bound counts,
 * what the bound's cut and the sweep take from the front, as the Challenge per
 * grant in the Rand table was (an object, a key string and a table entry per
 * Digest request, each kept 30 s, and a walk over all of them once a second).
 */
export class MemoryChallengeStore implements ChallengeStore {
  /** KS1 challenges by Rand. Insertion order is creation order. */
  readonly #byKey = new Map<string, HeldChallenge>();
  /** requester → IDc → its unused Digest grants. */
  readonly #grants = new Map<string, Map<string, GrantHolder>>();
  // The grant log, a queue in three parallel arrays from #head: holder, serial (in the sequence Rands take theirs
  // from too, so the cut goes by issue order) and expiry time.
  #logHolder: (GrantHolder | undefined)[] = [];
  #logSerial: number[] = [];
  #logExpires: number[] = [];
  #head = 0;
  #lastSweep = 0;
  #seq = 0;

  constructor(private readonly now: () => number, private readonly max = MAX_CHALLENGES) {}

  get size(): number {
    return this.#byKey.size + this.#logHolder.length - this.#head;
  }

  /** Sweeps at most once a second, and makes room at the bound; before every insert. */
  #beforeInsert(t: number): void {
    // Amortised: a pass at most once a second, the rest is bounded by `max`.
    if (t - this.#lastSweep >= 1000) this.#sweep(t);
    if (this.size >= this.max) this.#dropOldest(this.size - this.max + 1 + (this.max >> 4));
  }

  /**
   * Drops the `count` oldest entries, Rands and grants merged in issue order. At once: one per insert made each
   * `keys()` walk from the Map's start cross the holes of every entry dropped before (40 µs per challenge at the cap).
   */
  #dropOldest(count: number): void {
    const rands = this.#byKey.values();
    let next = rands.next();
    let randsDropped = 0;
    for (; count > 0; count--) {
      const logged = this.#head < this.#logHolder.length;
      if (next.done === true && !logged) break;
      if (next.done !== true && (!logged || next.value.seq < this.#logSerial[this.#head]!)) {
        randsDropped++;
        next = rands.next();
      } else this.#shiftLog();
    }
    dropOldest(this.#byKey, randsDropped);
  }

  /** Takes the grant log's first entry off, and its grant if still unused. */
  #shiftLog(): void {
    const h = this.#head;
    const holder = this.#logHolder[h]!;
    // A holder's grants are in log order and each earlier entry took its own off, so it is the first if still there.
    if (holder.serials[0] === this.#logSerial[h]) {
      holder.serials.shift();
      holder.expires.shift();
    }
    if (--holder.logged === 0) {
      holder.byIdc.delete(holder.idc);
      if (holder.byIdc.size === 0) this.#grants.delete(holder.requester);
    }
    this.#logHolder[h] = undefined;
    this.#head = h + 1;
    // Compacted when half is spent: each entry is copied at most once on average.
    if (this.#head >= 1024 && this.#head * 2 >= this.#logHolder.length) {
      this.#logHolder = this.#logHolder.slice(this.#head);
      this.#logSerial = this.#logSerial.slice(this.#head);
      this.#logExpires = this.#logExpires.slice(this.#head);
      this.#head = 0;
    }
  }

  #sweep(t: number): number {
    this.#lastSweep = t;
    let n = 0;
    for (const [key, c] of this.#byKey) {
      if (c.expiresAt <= t) {
        this.#byKey.delete(key);
        n++;
      }
    }
    // Grants all live the AuC's challenge life, so the log is in expiry order too; a lookup never trusts an expired one.
    while (this.#head < this.#logHolder.length && this.#logExpires[this.#head]! <= t) {
      this.#shiftLog();
      n++;
    }
    return n;
  }

  async add(c: NewChallenge): Promise<void> {
    if (this.#byKey.has(c.rand)) throw new Error('duplicate challenge');
    const t = this.now();
    this.#beforeInsert(t);
    this.#byKey.set(c.rand, { rand: c.rand, idc: c.idc, idsp: c.idsp, createdAt: t, expiresAt: c.expiresAt, used: false, requester: c.requester ?? '', kind: 'ks1', seq: ++this.#seq });
  }

  async get(rand: string): Promise<Challenge | undefined> {
    const c = this.#byKey.get(rand);
    return c ? { rand: c.rand, idc: c.idc, idsp: c.idsp, createdAt: c.createdAt, expiresAt: c.expiresAt, used: c.used, requester: c.requester, kind: c.kind } : undefined;
  }

  async consume(rand: string, idc: string, idsp: string): Promise<boolean> {
    const c = this.#byKey.get(rand);
    if (!c || c.kind !== 'ks1' || c.used || c.idc !== idc || c.idsp !== idsp || c.expiresAt <= this.now()) return false;
    c.used = true;
    return true;
  }

  async grantDigest(idc: string, requester: string, expiresAt: number): Promise<void> {
    const t = this.now();
    this.#beforeInsert(t);
    let byIdc = this.#grants.get(requester);
    if (byIdc === undefined) this.#grants.set(requester, (byIdc = new Map()));
    let holder = byIdc.get(idc);
    if (holder === undefined) byIdc.set(idc, (holder = { idc, requester, byIdc, serials: [], expires: [], logged: 0 }));
    // A refresh the softswitch does not report leaves its grant unused until it expires; past the bound the oldest goes
    // (as in Redis). Its log entry stays, counted, until it expires or is cut.
    else if (holder.serials.length >= MAX_GRANTS) {
      holder.serials.shift();
      holder.expires.shift();
    }
    // A serial, not a random value: it never leaves this store (a random one cost a trip into OpenSSL per Digest).
    const serial = ++this.#seq;
    holder.serials.push(serial);
    holder.expires.push(expiresAt);
    holder.logged++;
    this.#logHolder.push(holder);
    this.#logSerial.push(serial);
    this.#logExpires.push(expiresAt);
  }

  async consumeDigestGrant(idc: string, requester: string): Promise<boolean> {
    const holder = this.#grants.get(requester)?.get(idc);
    if (holder === undefined) return false;
    const t = this.now();
    // The one expiring first that has not expired (grants of one AuC all live challengeTtl, so that is the oldest).
    const expires = holder.expires;
    let best = -1;
    for (let i = 0; i < expires.length; i++) if (expires[i]! > t && (best < 0 || expires[i]! < expires[best]!)) best = i;
    if (best < 0) return false;
    // Single-use: it leaves its holder; its log entry stays, counted, until it expires.
    if (best === 0) {
      holder.serials.shift();
      expires.shift();
    } else {
      holder.serials.splice(best, 1);
      expires.splice(best, 1);
    }
    return true;
  }

  async purgeExpired(olderThan = this.now()): Promise<number> {
    return this.#sweep(olderThan);
  }
}
