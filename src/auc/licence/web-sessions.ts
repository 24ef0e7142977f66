import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SubscriberSession {
  idc: string;
  /** The synchronizer token every state-changing request of this session carries. */
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

const hashOf = (cookie: string) => createHash('sha256').update(cookie).digest('hex');
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The voicemail page's sessions, in the AuC process's memory (as the
 * console's): 256-bit cookie values of which only the SHA-256 is kept, an
 * idle and an absolute lifetime, a bound on how many are held.
 */
export class SubscriberSessions {
  readonly #byHash = new Map<string, SubscriberSession>();

  constructor(private readonly idleMs: number, private readonly maxMs: number, private readonly maxSessions: number, private readonly now: () => number) {}

  create(idc: string): { cookie: string; session: SubscriberSession } {
    const t = this.now();
    for (const [h, s] of this.#byHash) if (!this.#alive(s, t)) this.#byHash.delete(h);
    while (this.#byHash.size >= this.maxSessions) this.#byHash.delete(this.#byHash.keys().next().value!);
    const cookie = randomBytes(32).toString('base64url');
    const session = { idc, csrf: randomBytes(32).toString('base64url'), createdAt: t, lastSeen: t };
    this.#byHash.set(hashOf(cookie), session);
    return { cookie, session };
  }

  get(cookie: string | undefined): SubscriberSession | undefined {
    if (!cookie || !COOKIE_VALUE.test(cookie)) return undefined;
    const h = hashOf(cookie);
    const s = this.#byHash.get(h);
    if (!s) return undefined;
    const t = this.now();
    if (!this.#alive(s, t)) {
      this.#byHash.delete(h);
      return undefined;
    }
    s.lastSeen = t;
    this.#byHash.delete(h);
    this.#byHash.set(h, s);
    return s;
  }

  destroy(cookie: string | undefined): void {
    if (cookie) this.#byHash.delete(hashOf(cookie));
  }

  #alive(s: SubscriberSession, t: number): boolean {
    return t < s.lastSeen + this.idleMs && t < s.createdAt + this.maxMs;
  }
}

export function csrfMatches(s: SubscriberSession, sent: unknown): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(s.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
