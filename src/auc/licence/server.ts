/**
 * The licence server's HTTPS listener (docs/voicemail.md): the media
 * server's deposit (service key), players' licence and package requests
 * (subscriber Basic credentials), and the subscribers' web page under
 * /voicemail (./web.ts). Nothing else is served on it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Deposit, Delegation } from '../../contracts/licence.js';
import { ID_PATTERN, LICENCE_PATHS } from '../../contracts/licence.js';
import type { Logger } from '../../log/logger.js';
import type { Store } from '../../store/index.js';
import { LicenceRefused, LicenceService } from './service.js';
import { voicemailWeb, type WebSettings } from './web.js';

export interface LicenceServerOptions {
  store: Store;
  logger: Logger;
  service: LicenceService;
  /** The media server's service key (64 hex digits). */
  mediaKey: string;
  tls: { cert: string; key: string };
  /** Largest request body (a deposit carries its package in base64). */
  bodyLimit: number;
  web: WebSettings;
}

const SECURITY_HEADERS = {
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  'cache-control': 'no-store',
} as const;
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/**
 * The page runs its one script and stylesheet, talks only to this origin
 * (package and licence), and posts forms only here. Decryption (WebCrypto)
 * and playback (WebAudio from decoded samples) need nothing more: no media
 * element loads a URL, no worker, no eval.
 */
export const WEB_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const digest = (s: string) => createHash('sha256').update(s).digest();

/** `Basic idc:password` from a request, or undefined. */
function basicCredentials(req: FastifyRequest): { idc: string; password: string } | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' && h.length < 2048 ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(h) : null;
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { idc: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function refusalAnswer(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof LicenceRefused) return reply.code(err.statusCode).send({ statusCode: err.statusCode, code: err.code, message: err.message });
  throw err;
}

export async function buildLicenceServer(o: LicenceServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger.child({ role: 'auc-licence' }) as FastifyBaseLogger,
    https: { cert: o.tls.cert, key: o.tls.key },
    bodyLimit: o.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
  });
  const mediaKeyDigest = digest(o.mediaKey.toLowerCase());
  const { service } = o;

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      req.log.error({ err: { name: err.name, code: err.code, message: err.message } }, 'licence request failed');
      return reply.code(500).send({ statusCode: 500, code: 'internal', message: 'internal error; see the server log' });
    }
    return reply.code(status).send({ statusCode: status, code: status === 413 ? 'body-too-large' : 'invalid', message: err.message });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ statusCode: 404, code: 'not-found', message: 'no such path' }));
  app.addHook('onSend', async (req, reply, payload) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('content-security-policy', req.url.startsWith('/voicemail') ? WEB_CSP : API_CSP);
    return payload;
  });

  const messageId = (req: FastifyRequest): string | undefined => {
    const id = (req.params as { id?: unknown }).id;
    return typeof id === 'string' && ID_PATTERN.test(id) ? id : undefined;
  };

  /** A subscriber from Basic credentials, or the 401 already sent. */
  const subscriber = async (req: FastifyRequest, reply: FastifyReply): Promise<string | undefined> => {
    const c = basicCredentials(req);
    try {
      if (c && (await service.authenticate(c.idc, c.password, req.ip))) return c.idc;
    } catch (err) {
      refusalAnswer(reply, err);
      return undefined;
    }
    reply.header('www-authenticate', 'Basic realm="keyswitch voicemail", charset="UTF-8"');
    reply.code(401).send({ statusCode: 401, code: 'unauthenticated', message: 'subscriber credentials required (voicemail or SIP password)' });
    return undefined;
  };

  app.post<{ Body: Deposit }>(LICENCE_PATHS.deposit, async (req, reply) => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer\s+([0-9a-fA-F]{64})$/.exec(h) : null;
    if (!m || !timingSafeEqual(digest(m[1]!.toLowerCase()), mediaKeyDigest)) {
      await o.store.audit.add(`media:${req.ip}`, 'voicemail.deposit-refused', '', { reason: 'bad service key', source: req.ip });
      reply.header('www-authenticate', 'Bearer realm="keyswitch licence"');
      return reply.code(401).send({ statusCode: 401, code: 'unauthenticated', message: 'the media service key is missing or wrong' });
    }
    try {
      const a = await service.deposit(req.body, req.ip);
      return reply.code(a.created ? 201 : 200).send(a);
    } catch (err) {
      return refusalAnswer(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/v1/voicemail/messages/:id/licence', async (req, reply) => {
    const who = await subscriber(req, reply);
    if (!who) return reply;
    const id = messageId(req);
    if (!id) return refusalAnswer(reply, await service.malformedId(String(req.params.id), who, 'licence', req.ip));
    try {
      return await service.licence(id, who, req.ip);
    } catch (err) {
      return refusalAnswer(reply, err);
    }
  });

  app.get<{ Params: { id: string } }>('/v1/voicemail/messages/:id/package', async (req, reply) => {
    const who = await subscriber(req, reply);
    if (!who) return reply;
    const id = messageId(req);
    if (!id) return refusalAnswer(reply, await service.malformedId(String(req.params.id), who, 'package', req.ip));
    try {
      const bytes = await service.package(id, who, req.ip);
      return reply.type('application/octet-stream').send(bytes);
    } catch (err) {
      return refusalAnswer(reply, err);
    }
  });

  app.post<{ Params: { id: string }; Body: Delegation }>('/v1/voicemail/messages/:id/delegations', async (req, reply) => {
    const who = await subscriber(req, reply);
    if (!who) return reply;
    const id = messageId(req);
    if (!id) return refusalAnswer(reply, await service.malformedId(String(req.params.id), who, 'delegate', req.ip));
    const b = req.body as Partial<Delegation> | undefined;
    if (!b || typeof b !== 'object' || typeof b.to !== 'string' || !Number.isSafeInteger(b.plays) || (b.expiresAt !== null && !Number.isSafeInteger(b.expiresAt)) || typeof b.mayForward !== 'boolean' || typeof b.mayModify !== 'boolean') {
      return reply.code(400).send({ statusCode: 400, code: 'invalid', message: 'a delegation is { to, plays, expiresAt (Unix ms or null), mayForward, mayModify }' });
    }
    try {
      const g = await service.delegate(id, who, b as Delegation, req.ip);
      return reply.code(201).send({ messageId: id, to: g.holder, rights: g.rights });
    } catch (err) {
      return refusalAnswer(reply, err);
    }
  });

  await app.register(voicemailWeb, { prefix: '/voicemail', store: o.store, service, ...o.web });
  return app;
}
