import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../../store/index.js';
import { actorOf } from '../api/auth.js';
import { consoleDir, loadAssets } from './assets.js';
import { LOGIN_COOKIE, readCookie, SESSION_COOKIE, setCookie } from './cookies.js';
import { csrfOk, endSession, resolveSession, sameOrigin, secureFor, type GuardOptions } from './guard.js';
import { StreamLimits } from './live.js';
import { errorPage } from './errors.js';
import { field, notice, view } from './page.js';
import { Operations } from '../operations.js';
import type { LiveRoles } from '../../control/live-roles.js';
import type { RatesSource } from './pages/context.js';
import { SessionStore } from './sessions.js';
import { auditPages } from './pages/audit.js';
import { registrationPages } from './pages/registrations.js';
import { failurePages } from './pages/failures.js';
import { principalPages } from './pages/principals.js';
import { importPages } from './pages/import.js';
import { dashboardPages } from './pages/dashboard.js';
import type { ConsoleContext } from './pages/context.js';

/** The console's settings (auc.console.* in the configuration). */
export interface ConsoleSettings {
  /** Idle and absolute session lifetimes, in seconds. */
  sessionIdleSeconds: number;
  sessionMaxSeconds: number;
  /** `auto`: cookies Secure when the request came over TLS; `on`: always (TLS ends at a proxy in front). */
  secureCookie: 'auto' | 'on';
}

export const CONSOLE_DEFAULTS: ConsoleSettings = { sessionIdleSeconds: 1800, sessionMaxSeconds: 28800, secureCookie: 'auto' };

/** What the API passes on to the console beside the store: its settings, and the process's metrics when it has some. */
export interface ConsoleApiOptions extends Partial<ConsoleSettings> {
  /** The process's rates over the last hour (src/metrics/history.ts); without them the dashboard has no chart. */
  rates?: RatesSource;
  /** How often live tables are re-read (default 2 s). */
  liveIntervalMs?: number;
}

export interface ConsoleOptions extends ConsoleSettings, Omit<ConsoleApiOptions, keyof ConsoleSettings> {
  store: Store;
  /** Roles in this process (`keyswitch up`), reached directly by the operator actions (src/auc/operations.ts). */
  live?: LiveRoles;
}

/**
 * The console's pages run only their own scripts and styles (no inline
 * script or style anywhere), talk only to this origin (live tables over
 * server-sent events, the rates as JSON), and post forms only to it.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const CONSOLE_PREFIX = '/console';

/** Paths a browser may open without a session. */
function isPublic(path: string): boolean {
  return path === '/console/login' || path.startsWith('/console/static/');
}

/** A live stream (server-sent events): reading it does not count as using the session. */
function isStream(path: string): boolean {
  return path.endsWith('/events') || path === '/console/rates.json';
}


function pathOf(req: FastifyRequest): string {
  return req.url.split('?')[0]!;
}

/**
 * The web console of the AuC, under /console of the provisioning API
 * (docs/console.md). Server-rendered pages (eta through @fastify/view); a
 * few lines of plain script turn marked tables live over server-sent
 * events; the rates chart is uPlot. An operator signs in with an operator
 * token; the session cookie is HttpOnly, SameSite=Strict, Secure over TLS;
 * every state-changing form carries the session's CSRF token; viewers see,
 * admins change.
 */
export async function consolePlugin(app: FastifyInstance, o: ConsoleOptions): Promise<void> {
  const dir = consoleDir();
  const assets = loadAssets(dir);
  const now = o.store.now;
  const sessions = new SessionStore({ idleMs: o.sessionIdleSeconds * 1000, maxMs: o.sessionMaxSeconds * 1000, maxSessions: 10_000 }, now);
  const guard: GuardOptions = { store: o.store, sessions, secureCookie: o.secureCookie };
  const ctx: ConsoleContext = {
    store: o.store,
    ops: new Operations(o.store, o.live),
    sessions,
    guard,
    rates: o.rates,
    streams: new StreamLimits(200, 16),
    liveIntervalMs: o.liveIntervalMs ?? 2000,
  };

  const views = join(dir, 'views');
  await app.register(fastifyView, {
    engine: { eta: new Eta({ views, cache: true, autoEscape: true }) },
    templates: views,
    production: true,
  });

  // Forms post application/x-www-form-urlencoded; fields land as own properties
  // of a plain object (Object.fromEntries: "__proto__" is a field, not a prototype).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err: { name: err.name, code: (err as { code?: string }).code, message: err.message } }, 'console request failed');
    return errorPage(reply, status, status === 500 ? 'Something failed on the server; the AuC log has the cause.' : err.message);
  });
  app.setNotFoundHandler((req, reply) => errorPage(reply, 404, `No page ${pathOf(req)}.`));

  // After the API's own onSend (which sets no-referrer): with no-referrer a browser sends
  // `Origin: null` even on this console's own forms, and the Origin check needs the real one.
  // same-origin: the real origin to this console, nothing (null) to any other site.
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('referrer-policy', 'same-origin');
    return payload;
  });

  app.addHook('onRequest', async (req, reply) => {
    const path = pathOf(req);
    if (isPublic(path)) return;
    const s = await resolveSession(req, guard, !isStream(path));
    if (s) return;
    if (req.method === 'GET' && !isStream(path)) {
      const had = readCookie(req, SESSION_COOKIE);
      return reply.redirect(had ? '/console/login?done=expired' : '/console/login', 303);
    }
    return errorPage(reply, 401, 'Not signed in, or the session ended.');
  });

  // Every state-changing request: from this console's own page, with the session's CSRF token, by an admin.
  app.addHook('preHandler', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const path = pathOf(req);
    if (path === '/console/login') return; // checked by its own route (no session yet)
    if (!sameOrigin(req) || !csrfOk(req)) {
      req.log.warn({ path, origin: req.headers.origin }, 'console form refused: CSRF check failed');
      return errorPage(reply, 403, 'Refused: this form did not come from a page of this console session (CSRF check). Reload the page and try again.');
    }
    if (path !== '/console/logout' && req.consoleSession?.role !== 'admin') {
      return errorPage(reply, 403, 'Refused: your token has the viewer role, which may look but not change.');
    }
  });

  app.get<{ Params: { name: string } }>('/static/:name', async (req, reply) => {
    const a = assets.get(req.params.name);
    if (!a) return errorPage(reply, 404, 'No such file.');
    return reply.type(a.type).send(a.body);
  });

  app.get('/login', async (req, reply) => {
    if (await resolveSession(req, guard, false)) return reply.redirect('/console', 303);
    return loginPage(req, reply, 200, undefined, notice(req.query));
  });

  app.post('/login', async (req, reply) => {
    const body = req.body;
    const nonce = readCookie(req, LOGIN_COOKIE) ?? '';
    const sent = field(body, '_login');
    const nonceOk = nonce.length === 43 && sent.length === 43 && timingSafeEqual(Buffer.from(nonce), Buffer.from(sent));
    if (!sameOrigin(req) || !nonceOk) {
      req.log.warn({ origin: req.headers.origin }, 'console sign-in refused: CSRF check failed');
      return loginPage(req, reply, 403, 'The sign-in form had expired or did not come from this console; try again.');
    }
    const op = await o.store.tokens.verify(field(body, 'token'));
    if (!op) {
      req.log.warn({ ip: req.ip }, 'console sign-in failed: invalid or revoked token');
      return loginPage(req, reply, 401, 'Invalid or revoked token.');
    }
    // a session id chosen before sign-in is never kept (fixation)
    sessions.destroy(readCookie(req, SESSION_COOKIE));
    const { cookie } = sessions.create(op);
    const secure = secureFor(req, o.secureCookie);
    setCookie(reply, SESSION_COOKIE, cookie, { secure, maxAge: o.sessionMaxSeconds });
    setCookie(reply, LOGIN_COOKIE, '', { secure, maxAge: 0 });
    req.operator = op;
    await o.store.audit.add(actorOf(req), 'console.sign-in', op.id, { role: op.role });
    return reply.redirect('/console', 303);
  });

  app.post('/logout', async (req, reply) => {
    endSession(req, reply, guard);
    if (req.operator) await o.store.audit.add(actorOf(req), 'console.sign-out', req.operator.id);
    return reply.redirect('/console/login?done=signed-out', 303);
  });

  dashboardPages(app, ctx);
  principalPages(app, ctx);
  importPages(app, ctx);
  registrationPages(app, ctx);
  failurePages(app, ctx);
  auditPages(app, ctx);

  function loginPage(req: FastifyRequest, reply: FastifyReply, status: number, problem?: string, note?: string) {
    const nonce = randomBytes(32).toString('base64url');
    setCookie(reply, LOGIN_COOKIE, nonce, { secure: secureFor(req, o.secureCookie), maxAge: 600 });
    return view(reply.code(status), 'login', { title: 'Sign in', nonce, problem, notice: note });
  }
}
