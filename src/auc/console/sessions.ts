import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../../store/index.js';
import type { OperatorToken } from '../../store/tokens.js';

export interface SessionPolicy {
  /** A session not used for this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, used or not. */
  maxMs: number;
  /** Sessions held at once; the least recently used goes first. */
  maxSessions: number;
}

/** What every session holds besides its owner: the CSRF token and its times. */
export interface SessionTimes {
  /** The synchronizer token every state-changing form of this session carries. */
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

export type Session<T> = T & SessionTimes;

export type ConsoleSession = Session<{ tokenId: string; role: Role; label: string }>;

/** A session id is 256 random bits; the map holds only its SHA-256, so nothing in memory is a usable cookie. */
function hashOf(cookie: string): string {
  return createHash('sha256').update(cookie).digest('hex');
}

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Browser sessions in the memory of the AuC process (the console's and the
 * voicemail page's): a restart signs everyone out. `I` is what a sign-in
 * proved, `T` what the session keeps of it.
 */
export class Sessions<I, T extends object> {
  readonly #byHash = new Map<string, Session<T>>();

  constructor(
    private readonly policy: SessionPolicy,
    private readonly now: () => number,
    private readonly keep: (signedIn: I) => T,
  ) {}

  /** A new session for whoever signed in; the value goes in the cookie only. */
  create(signedIn: I): { cookie: string; session: Session<T> } {
    this.#sweep();
    while (this.#byHash.size >= this.policy.maxSessions) this.#byHash.delete(this.#byHash.keys().next().value!);
    const cookie = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session<T> = { ...this.keep(signedIn), csrf: randomBytes(32).toString('base64url'), createdAt: t, lastSeen: t };
    this.#byHash.set(hashOf(cookie), session);
    return { cookie, session };
  }

  /**
   * The live session of a cookie value, or undefined (unknown, idle too long,
   * past its lifetime). `touch` counts this request as use; a live table's
   * stream does not, so a forgotten tab does not keep a session open.
   */
  get(cookie: string | undefined, touch = true): Session<T> | undefined {
    if (!cookie || !COOKIE_VALUE.test(cookie)) return undefined;
    const h = hashOf(cookie);
    const s = this.#byHash.get(h);
    if (!s) return undefined;
    const t = this.now();
    if (!this.#alive(s, t)) {
      this.#byHash.delete(h);
      return undefined;
    }
    if (touch) {
      s.lastSeen = t;
      // re-insert: the map's order is the eviction order (least recently used first)
      this.#byHash.delete(h);
      this.#byHash.set(h, s);
    }
    return s;
  }

  /** When the session ends if not used again (for the page footer and the cookie). */
  endsAt(s: SessionTimes): number {
    return Math.min(s.lastSeen + this.policy.idleMs, s.createdAt + this.policy.maxMs);
  }

  destroy(cookie: string | undefined): void {
    if (cookie) this.#byHash.delete(hashOf(cookie));
  }

  /** Ends every session that `which` picks. */
  destroyWhere(which: (s: Session<T>) => boolean): void {
    for (const [h, s] of this.#byHash) if (which(s)) this.#byHash.delete(h);
  }

  get size(): number {
    return this.#byHash.size;
  }

  #alive(s: SessionTimes, t: number): boolean {
    return t < s.lastSeen + this.policy.idleMs && t < s.createdAt + this.policy.maxMs;
  }

  #sweep(): void {
    const t = this.now();
    for (const [h, s] of this.#byHash) if (!this.#alive(s, t)) this.#byHash.delete(h);
  }
}

/**
 * Console sessions. An operator token revoked after sign-in ends its
 * sessions at their next request (the caller checks the token on every
 * request).
 */
export class SessionStore extends Sessions<OperatorToken, { tokenId: string; role: Role; label: string }> {
  constructor(policy: SessionPolicy, now: () => number) {
    super(policy, now, (op) => ({ tokenId: op.id, role: op.role, label: op.label }));
  }

  /** Ends every session signed in with that operator token (revoked). */
  destroyForToken(tokenId: string): void {
    this.destroyWhere((s) => s.tokenId === tokenId);
  }
}

/** Constant-time compare of a submitted CSRF token with the session's. */
export function csrfMatches(session: SessionTimes, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false;
  const a = Buffer.from(submitted);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
