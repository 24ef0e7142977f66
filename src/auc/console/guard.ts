import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../../store/index.js';
import { COOKIE_PATH, readCookie, SESSION_COOKIE, setCookie } from './cookies.js';
import { csrfMatches, type ConsoleSession, type SessionStore } from './sessions.js';

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: ConsoleSession;
  }
}

export interface GuardOptions {
  store: Store;
  sessions: SessionStore;
  /** `on`: cookies are Secure always (TLS ends at a proxy in front); `auto`: when this request came over TLS. */
  secureCookie: 'auto' | 'on';
}

/** Whether the console's cookies for this request get the Secure flag. */
export function secureFor(req: FastifyRequest, secureCookie: 'auto' | 'on'): boolean {
  return secureCookie === 'on' || req.protocol === 'https';
}

/**
 * A state-changing request must come from a page of this console: a browser
 * names the page's origin in Origin (and Sec-Fetch-Site) on every POST, so a
 * form on another site is refused here before its CSRF token is even
 * looked at. Requests without those headers (not from a browser) still need
 * the token.
 */
export function sameOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (typeof origin !== 'string' || origin === 'null') return false;
  let o: URL;
  let self: URL;
  try {
    o = new URL(origin);
    self = new URL(`${req.protocol}://${req.host}`);
  } catch {
    return false;
  }
  // URL drops a scheme's default port on both sides (Host may name :80, Origin never does)
  return o.protocol === self.protocol && o.host === self.host;
}

/**
 * The session of a request, with its operator token checked again: a token
 * revoked since sign-in ends the session now. Sets `req.operator` so that
 * the audit names the same actor as for the token's API calls.
 */
export async function resolveSession(req: FastifyRequest, o: GuardOptions, touch: boolean): Promise<ConsoleSession | undefined> {
  const cookie = readCookie(req, SESSION_COOKIE);
  const s = o.sessions.get(cookie, touch);
  if (!s) return undefined;
  const token = (await o.store.tokens.list()).find((t) => t.id === s.tokenId);
  if (!token || token.revoked) {
    o.sessions.destroyForToken(s.tokenId);
    return undefined;
  }
  req.consoleSession = s;
  req.operator = token;
  return s;
}

/** Ends the session of this request and deletes its cookie. */
export function endSession(req: FastifyRequest, reply: FastifyReply, o: GuardOptions): void {
  o.sessions.destroy(readCookie(req, SESSION_COOKIE));
  setCookie(reply, SESSION_COOKIE, '', { secure: secureFor(req, o.secureCookie), maxAge: 0 });
}

export function csrfOk(req: FastifyRequest): boolean {
  const s = req.consoleSession;
  const body = req.body as Record<string, unknown> | undefined;
  return Boolean(s && body && typeof body === 'object' && Object.hasOwn(body, '_csrf') && csrfMatches(s, body._csrf));
}

export { COOKIE_PATH };
