import type { FastifyReply, FastifyRequest } from 'fastify';

/** The session cookie, and the one that guards the sign-in form before there is a session. */
export const SESSION_COOKIE = 'ks_console';
export const LOGIN_COOKIE = 'ks_console_login';
export const COOKIE_PATH = '/console';

/** The value of one cookie from the Cookie header; the first of that name wins (RFC 6265 §5.4 orders more specific paths first). */
export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieFlags {
  /** Send the cookie over TLS only. */
  secure: boolean;
  /** Lifetime in seconds; 0 deletes the cookie. */
  maxAge: number;
}

/**
 * Sets a console cookie: HttpOnly (no script reads it), SameSite=Strict (no
 * other site's page sends it along), scoped to the console's path, and
 * Secure when the console is served over TLS. Values are base64url only.
 */
export function setCookie(reply: FastifyReply, name: string, value: string, f: CookieFlags): void {
  const attrs = [`${name}=${value}`, `Path=${COOKIE_PATH}`, `Max-Age=${Math.max(0, Math.floor(f.maxAge))}`, 'HttpOnly', 'SameSite=Strict'];
  if (f.secure) attrs.push('Secure');
  reply.header('set-cookie', attrs.join('; ')); // fastify adds to the set-cookie headers already set
}
