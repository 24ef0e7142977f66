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

export interface ConsoleSession {
  tokenId: string;
  role: Role;
  label: string;
  /** The synchronizer token every state-changing form of this session carries. */
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

/** A session id is 256 random bits; the map holds only its SHA-256, so nothing in memory is a usable cookie. */
function hashOf(cookie: string): string {
  return createHash('sha256').update(cookie).digest('hex');
}

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Console sessions, in the memory of the AuC process: a restart signs every
 * operator out (they sign in again with their token). An operator token
 * revoked after sign-in ends its sessions at their next request (the caller
 * checks the token on every request).
 */
export class SessionStore {
  readonly #byHash = new Map<string, ConsoleSession>();

  constructor(private readonly policy: SessionPolicy, private readonly now: () => number) {}

  /** A new session for an operator who proved a token; the value goes in the cookie only. */
  create(op: OperatorToken): { cookie: string; session: ConsoleSession } {
    this.#sweep();
    while (this.#byHash.size >= this.policy.maxSessions) this.#byHash.delete(this.#byHash.keys().next().value!);
    const cookie = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: ConsoleSession = { tokenId: op.id, role: op.role, label: op.label, csrf: randomBytes(32).toString('base64url'), createdAt: t, lastSeen: t };
    this.#byHash.set(hashOf(cookie), session);
    return { cookie, session };
  }

  /**
   * The live session of a cookie value, or undefined (unknown, idle too long,
   * past its lifetime). `touch` counts this request as use; a live table's
   * stream does not, so a forgotten tab does not keep a session open.
   */
  get(cookie: string | undefined, touch = true): ConsoleSession | undefined {
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
  endsAt(s: ConsoleSession): number {
    return Math.min(s.lastSeen + this.policy.idleMs, s.createdAt + this.policy.maxMs);
  }

  destroy(cookie: string | undefined): void {
    if (cookie) this.#byHash.delete(hashOf(cookie));
  }

  /** Ends every session signed in with that operator token (revoked). */
  destroyForToken(tokenId: string): void {
    for (const [h, s] of this.#byHash) if (s.tokenId === tokenId) this.#byHash.delete(h);
  }

  get size(): number {
    return this.#byHash.size;
  }

  #alive(s: ConsoleSession, t: number): boolean {
    return t < s.lastSeen + this.policy.idleMs && t < s.createdAt + this.policy.maxMs;
  }

  #sweep(): void {
    const t = this.now();
    for (const [h, s] of this.#byHash) if (!this.#alive(s, t)) this.#byHash.delete(h);
  }
}

/** Constant-time compare of a submitted CSRF token with the session's. */
export function csrfMatches(session: ConsoleSession, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false;
  const a = Buffer.from(submitted);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
