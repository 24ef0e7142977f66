/**
 * The subscribers' voicemail page (docs/voicemail.md, "Web page"): sign in
 * with the voicemail (or SIP) password, list messages with caller, time,
 * length and rights left, play (the page fetches the package and a licence
 * and decrypts and decodes in the browser), forward with chosen rights,
 * delete, and revoke what one sent. Server-rendered (eta), one script, one
 * stylesheet, cookies HttpOnly, SameSite=Strict, Secure; every state change
 * carries the session's CSRF token and must come from this origin.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ID_PATTERN, MAX_PLAYS } from '../../contracts/licence.js';
import type { Store } from '../../store/index.js';
import { consoleDir } from '../console/assets.js';
import { sameOrigin } from '../console/guard.js';
import { field } from '../console/page.js';
import { LicenceRefused, type LicenceService } from './service.js';
import { csrfMatches, Sessions, type Session } from '../console/sessions.js';

/** A subscriber signed in on the voicemail page (the console's session mechanics). */
type SubscriberSession = Session<{ idc: string }>;

export interface WebSettings {
  sessionIdleSeconds: number;
  sessionMaxSeconds: number;
}

interface WebOptions extends WebSettings {
  store: Store;
  service: LicenceService;
}

const SESSION_COOKIE = 'ks_voicemail';
const LOGIN_COOKIE = 'ks_voicemail_login';
const PATH = '/voicemail';

const NOTICES: Record<string, string> = {
  forwarded: 'Forwarded.',
  deleted: 'Deleted.',
  dropped: 'Removed from your messages.',
  revoked: 'Revoked: nobody can play it any more.',
  'signed-out': 'Signed out.',
  expired: 'Your session ended; sign in again.',
};

function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function setCookie(reply: FastifyReply, name: string, value: string, maxAge: number): void {
  reply.header('set-cookie', `${name}=${value}; Path=${PATH}; Max-Age=${Math.max(0, Math.floor(maxAge))}; HttpOnly; SameSite=Strict; Secure`);
}

declare module 'fastify' {
  interface FastifyRequest {
    subscriber?: SubscriberSession;
  }
}

export async function voicemailWeb(app: FastifyInstance, o: WebOptions): Promise<void> {
  const dir = join(consoleDir(), 'voicemail');
  const assets = new Map([
    ['voicemail.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dir, 'static', 'voicemail.js')) }],
    ['voicemail.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(dir, 'static', 'voicemail.css')) }],
  ]);
  const sessions = new Sessions<string, { idc: string }>({ idleMs: o.sessionIdleSeconds * 1000, maxMs: o.sessionMaxSeconds * 1000, maxSessions: 10_000 }, o.store.now, (idc) => ({ idc }));
  const views = join(dir, 'views');
  await app.register(fastifyView, { engine: { eta: new Eta({ views, cache: true, autoEscape: true }) }, templates: views, production: true });
  const view = async (reply: FastifyReply, page: string, data: Record<string, unknown>) => {
    await (reply.view(page, data) as unknown as Promise<FastifyReply>);
    return reply;
  };
  const errorPage = (reply: FastifyReply, status: number, problem: string) => view(reply.code(status), 'error', { title: status === 401 ? 'Not signed in' : 'Refused', problem });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err: { name: err.name, message: err.message } }, 'voicemail page failed');
    return errorPage(reply, status, status === 500 ? 'Something failed on the server.' : err.message);
  });

  const isPublic = (path: string) => path === `${PATH}/login` || path.startsWith(`${PATH}/static/`);
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (isPublic(path)) return;
    const cookie = readCookie(req, SESSION_COOKIE);
    const s = sessions.get(cookie);
    // a subscriber disabled or deleted since sign-in loses its session at its next request
    if (s && (await o.store.terminals.get(s.idc))?.status === 'active') {
      req.subscriber = s;
      return;
    }
    if (s) sessions.destroy(cookie);
    if (req.method === 'GET' && !path.endsWith('/package')) return reply.redirect(readCookie(req, SESSION_COOKIE) ? `${PATH}/login?done=expired` : `${PATH}/login`, 303);
    return reply.code(401).send({ statusCode: 401, code: 'unauthenticated', message: 'not signed in, or the session ended' });
  });
  // state changes: from this origin, with the session's CSRF token (a form field, or the x-ks-csrf header for the player's fetch)
  app.addHook('preHandler', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const path = req.url.split('?')[0]!;
    if (path === `${PATH}/login`) return;
    const s = req.subscriber;
    const body = req.body as Record<string, unknown> | undefined;
    const sent = req.headers['x-ks-csrf'] ?? (body && typeof body === 'object' && Object.hasOwn(body, '_csrf') ? body._csrf : undefined);
    if (!s || !sameOrigin(req) || !csrfMatches(s, sent)) {
      req.log.warn({ path }, 'voicemail request refused: CSRF check failed');
      return reply.code(403).send({ statusCode: 403, code: 'csrf', message: 'refused: not from this page of your session' });
    }
  });

  app.get<{ Params: { name: string } }>('/static/:name', async (req, reply) => {
    const a = assets.get(req.params.name);
    if (!a) return reply.code(404).send({ statusCode: 404, code: 'not-found', message: 'no such file' });
    return reply.type(a.type).send(a.body);
  });

  const loginPage = (reply: FastifyReply, status: number, problem?: string, notice?: string) => {
    const nonce = randomBytes(32).toString('base64url');
    setCookie(reply, LOGIN_COOKIE, nonce, 600);
    return view(reply.code(status), 'login', { title: 'Voicemail sign in', nonce, problem, notice });
  };

  app.get('/login', async (req, reply) => {
    if (sessions.get(readCookie(req, SESSION_COOKIE))) return reply.redirect(PATH, 303);
    const k = field(req.query, 'done');
    return loginPage(reply, 200, undefined, Object.hasOwn(NOTICES, k) ? NOTICES[k] : undefined);
  });

  app.post('/login', async (req, reply) => {
    const nonce = readCookie(req, LOGIN_COOKIE) ?? '';
    const sent = field(req.body, '_login');
    const nonceOk = nonce.length === 43 && sent.length === 43 && timingSafeEqual(Buffer.from(nonce), Buffer.from(sent));
    if (!sameOrigin(req) || !nonceOk) return loginPage(reply, 403, 'The sign-in form had expired or did not come from this page; try again.');
    const idc = field(req.body, 'idc');
    let ok = false;
    try {
      ok = await o.service.authenticate(idc, field(req.body, 'password', false), req.ip);
    } catch (err) {
      if (err instanceof LicenceRefused) return loginPage(reply, err.statusCode, 'Too many failed sign-ins; try again later.');
      throw err;
    }
    if (!ok) return loginPage(reply, 401, 'Wrong subscriber or password.');
    sessions.destroy(readCookie(req, SESSION_COOKIE));
    const { cookie } = sessions.create(idc);
    setCookie(reply, SESSION_COOKIE, cookie, o.sessionMaxSeconds);
    setCookie(reply, LOGIN_COOKIE, '', 0);
    await o.store.audit.add(`subscriber:${idc}`, 'voicemail.sign-in', idc, { source: req.ip });
    return reply.redirect(PATH, 303);
  });

  app.post('/logout', async (req, reply) => {
    sessions.destroy(readCookie(req, SESSION_COOKIE));
    setCookie(reply, SESSION_COOKIE, '', 0);
    return reply.redirect(`${PATH}/login?done=signed-out`, 303);
  });

  app.get('/', async (req, reply) => {
    const s = req.subscriber!;
    const t = o.store.now();
    const inbox = (await o.store.voicemail.inbox(s.idc)).map(({ message: m, grant: g }) => ({
      id: m.id,
      from: m.senderDisplay || m.sender || 'unknown caller',
      at: new Date(m.recordedAt).toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
      length: `${(m.durationMs / 1000).toFixed(1)} s`,
      own: m.owner === s.idc,
      via: m.owner === s.idc ? '' : g.grantedBy,
      plays: g.rights.playsLeft === null ? 'no limit' : String(g.rights.playsLeft),
      expires: g.rights.expiresAt === null ? 'never' : new Date(g.rights.expiresAt).toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      forward: g.rights.mayForward,
      modify: g.rights.mayModify,
      state: m.revokedAt !== null ? 'revoked' : g.rights.expiresAt !== null && g.rights.expiresAt <= t ? 'expired' : g.rights.playsLeft === 0 ? 'spent' : '',
    }));
    const sent = (await o.store.voicemail.sent(s.idc)).map((m) => ({
      id: m.id,
      to: m.owner,
      at: new Date(m.recordedAt).toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
      length: `${(m.durationMs / 1000).toFixed(1)} s`,
      revoked: m.revokedAt !== null,
    }));
    const k = field(req.query, 'done');
    return view(reply, 'inbox', { title: 'Voicemail', idc: s.idc, csrf: s.csrf, inbox, sent, maxPlays: MAX_PLAYS, notice: Object.hasOwn(NOTICES, k) ? NOTICES[k] : undefined });
  });

  const idOf = (req: FastifyRequest) => {
    const id = (req.params as { id?: unknown }).id;
    return typeof id === 'string' && ID_PATTERN.test(id) ? id : undefined;
  };
  const jsonRefusal = (reply: FastifyReply, err: unknown) => {
    if (err instanceof LicenceRefused) return reply.code(err.statusCode).send({ statusCode: err.statusCode, code: err.code, message: err.message });
    throw err;
  };

  app.get<{ Params: { id: string } }>('/m/:id/package', async (req, reply) => {
    const id = idOf(req);
    if (!id) return jsonRefusal(reply, await o.service.malformedId(String(req.params.id), req.subscriber!.idc, 'package', req.ip));
    try {
      const bytes = await o.service.package(id, req.subscriber!.idc, req.ip);
      return reply.type('application/octet-stream').send(bytes);
    } catch (err) {
      return jsonRefusal(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/m/:id/licence', async (req, reply) => {
    const id = idOf(req);
    if (!id) return jsonRefusal(reply, await o.service.malformedId(String(req.params.id), req.subscriber!.idc, 'licence', req.ip));
    try {
      return await o.service.licence(id, req.subscriber!.idc, req.ip);
    } catch (err) {
      return jsonRefusal(reply, err);
    }
  });

  const back = (reply: FastifyReply, done: string) => reply.redirect(`${PATH}?done=${done}`, 303);
  const pageRefusal = (reply: FastifyReply, err: unknown) => {
    if (err instanceof LicenceRefused) return errorPage(reply, err.statusCode, err.message);
    throw err;
  };

  app.post<{ Params: { id: string } }>('/m/:id/forward', async (req, reply) => {
    const id = idOf(req);
    if (!id) return pageRefusal(reply, await o.service.malformedId(String(req.params.id), req.subscriber!.idc, 'delegate', req.ip));
    const plays = field(req.body, 'plays');
    const days = field(req.body, 'expiresDays');
    if (!/^[0-9]{1,4}$/.test(plays) || (days !== '' && !/^[0-9]{1,4}$/.test(days))) return errorPage(reply, 400, 'Plays and days must be whole numbers.');
    try {
      await o.service.delegate(id, req.subscriber!.idc, {
        to: field(req.body, 'to'),
        plays: Number(plays),
        expiresAt: days === '' || days === '0' ? null : o.store.now() + Number(days) * 86_400_000,
        mayForward: field(req.body, 'mayForward') === 'on',
        mayModify: field(req.body, 'mayModify') === 'on',
      }, req.ip);
    } catch (err) {
      return pageRefusal(reply, err);
    }
    return back(reply, 'forwarded');
  });

  app.post<{ Params: { id: string } }>('/m/:id/delete', async (req, reply) => {
    const id = idOf(req);
    if (!id) return pageRefusal(reply, await o.service.malformedId(String(req.params.id), req.subscriber!.idc, 'delete', req.ip));
    try {
      return back(reply, await o.service.remove(id, req.subscriber!.idc, req.ip));
    } catch (err) {
      return pageRefusal(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/m/:id/revoke', async (req, reply) => {
    const id = idOf(req);
    if (!id) return pageRefusal(reply, await o.service.malformedId(String(req.params.id), req.subscriber!.idc, 'revoke', req.ip));
    try {
      await o.service.revoke(id, { sender: req.subscriber!.idc }, req.ip);
    } catch (err) {
      return pageRefusal(reply, err);
    }
    return back(reply, 'revoked');
  });
}
