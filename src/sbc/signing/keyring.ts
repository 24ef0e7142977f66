/**
 * Header-signing key rings (docs/header-signing.md): one ring per purpose.
 * The newest key signs; older keys verify until they expire. The store is
 * read when the ring opens and when it rotates, never per message: lookups
 * by key id are a Map hit.
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { SigningKeyRecord, SigningKeyStore } from '../../store/signing-keys.js';

export type SigningPurpose = 'via' | 'rr';

export interface SigningKey {
  /** 8 base64url characters (6 random bytes): short enough for every URI. */
  readonly id: string;
  readonly purpose: SigningPurpose;
  /** HMAC-SHA256 key, kept as a KeyObject so it never prints. */
  readonly key: KeyObject;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface KeyRingOptions {
  store: SigningKeyStore;
  purpose: SigningPurpose;
  /** How long a signature stays verifiable after its key stopped signing. */
  lifetimeMs: number;
  /** A new key every so often (default 4 h). */
  rotateEveryMs?: number;
  /** Unix ms; tests move it. */
  now?: () => number;
}

export const DEFAULT_ROTATE_MS = 4 * 3600_000;
export const DEFAULT_VIA_LIFETIME_MS = 30 * 60_000;
export const DEFAULT_RR_LIFETIME_MS = 24 * 3600_000;

const KID_RE = /^[A-Za-z0-9_-]{8}$/;

export function isKeyId(s: string): boolean {
  return KID_RE.test(s);
}

export class KeyRing {
  readonly purpose: SigningPurpose;
  readonly lifetimeMs: number;
  readonly rotateEveryMs: number;
  readonly #store: SigningKeyStore;
  readonly #now: () => number;
  #byId = new Map<string, SigningKey>();
  #current!: SigningKey;
  #timer: NodeJS.Timeout | undefined;
  #rotating: Promise<SigningKey> | undefined;
  /** Called after each rotation (e.g. to rebuild a pool blob). */
  onRotate: ((current: SigningKey) => void) | undefined;

  private constructor(o: KeyRingOptions) {
    if (!(o.lifetimeMs > 0)) throw new Error('key lifetime must be positive');
    this.purpose = o.purpose;
    this.lifetimeMs = o.lifetimeMs;
    this.rotateEveryMs = o.rotateEveryMs ?? DEFAULT_ROTATE_MS;
    if (!(this.rotateEveryMs > 0)) throw new Error('rotation interval must be positive');
    this.#store = o.store;
    this.#now = o.now ?? Date.now;
  }

  /** Loads the live keys and makes a signing key if none is young enough. */
  static async open(o: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(o);
    await ring.maybeRotate();
    return ring;
  }

  /** The key that signs now. */
  current(): SigningKey {
    return this.#current;
  }

  /** A key that may still verify: undefined when unknown or expired. */
  get(id: string): SigningKey | undefined {
    const k = this.#byId.get(id);
    return k && k.expiresAt > this.#now() ? k : undefined;
  }

  /** Ids of the keys held, newest first (for status pages; never the bytes). */
  ids(): string[] {
    return [...this.#byId.values()].sort((a, b) => b.createdAt - a.createdAt).map((k) => k.id);
  }

  /** Rotates when the signing key is older than the interval; true if it did. */
  async maybeRotate(): Promise<boolean> {
    const before = this.#byId.size ? this.#current.id : undefined;
    const k = await this.#rotate(false);
    return k.id !== before;
  }

  /** Makes a new signing key now, whatever the age of the current one. */
  rotate(): Promise<SigningKey> {
    return this.#rotate(true);
  }

  /** Checks for rotation on a timer (unref'd: it does not hold the process). */
  start(checkEveryMs = Math.min(60_000, this.rotateEveryMs)): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.maybeRotate().catch(() => {
        // The store is unreachable: the current key keeps signing (it stays
        // valid for rotateEvery + lifetime) and the next tick retries.
      });
    }, checkEveryMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #rotate(force: boolean): Promise<SigningKey> {
    // One rotation at a time: a timer tick and a forced rotation must not both insert.
    if (this.#rotating) return this.#rotating;
    this.#rotating = this.#doRotate(force).finally(() => {
      this.#rotating = undefined;
    });
    return this.#rotating;
  }

  async #doRotate(force: boolean): Promise<SigningKey> {
    const now = this.#now();
    // Instances sharing a database adopt a key another one made recently
    // instead of each adding its own.
    let live = await this.#store.live(this.purpose, now);
    const newest = live[0];
    if (force || !newest || now - newest.createdAt >= this.rotateEveryMs) {
      const rec: SigningKeyRecord = {
        id: randomBytes(6).toString('base64url'),
        purpose: this.purpose,
        key: randomBytes(32),
        createdAt: now,
        // Signs for one interval, then verifies for a lifetime.
        expiresAt: now + this.rotateEveryMs + this.lifetimeMs,
      };
      await this.#store.add(rec);
      live = [rec, ...live];
      await this.#store.purge(now).catch(() => 0);
    }
    const next = new Map<string, SigningKey>();
    for (const r of live) {
      if (r.purpose !== this.purpose || !isKeyId(r.id) || r.key.length < 16) continue;
      next.set(r.id, Object.freeze({ id: r.id, purpose: this.purpose, key: createSecretKey(r.key), createdAt: r.createdAt, expiresAt: r.expiresAt }));
      r.key.fill(0);
    }
    const current = next.get(live[0]!.id);
    if (!current) throw new Error('signing key store returned an unusable key');
    this.#byId = next;
    const changed = this.#current?.id !== current.id;
    this.#current = current;
    if (changed) this.onRotate?.(current);
    return current;
  }
}

export interface SigningKeysOptions {
  store: SigningKeyStore;
  rotateEveryMs?: number;
  viaLifetimeMs?: number;
  rrLifetimeMs?: number;
  now?: () => number;
}

/** The two rings the SBC uses: `via` (Via signatures) and `rr` (Record-Route and route-set signatures). */
export interface SigningKeys {
  via: KeyRing;
  rr: KeyRing;
  start(): void;
  stop(): void;
}

export async function openSigningKeys(o: SigningKeysOptions): Promise<SigningKeys> {
  const common = { store: o.store, rotateEveryMs: o.rotateEveryMs, now: o.now };
  const via = await KeyRing.open({ ...common, purpose: 'via', lifetimeMs: o.viaLifetimeMs ?? DEFAULT_VIA_LIFETIME_MS });
  const rr = await KeyRing.open({ ...common, purpose: 'rr', lifetimeMs: o.rrLifetimeMs ?? DEFAULT_RR_LIFETIME_MS });
  return {
    via,
    rr,
    start() {
      via.start();
      rr.start();
    },
    stop() {
      via.stop();
      rr.stop();
    },
  };
}
