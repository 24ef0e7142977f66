import fastifySwagger from '@fastify/swagger';
import type { IdsEngine } from '../../ids/engine.js';
import { idsHooks, idsRoutes } from './ids-routes.js';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../log/logger.js';
import { Health, healthAnswer } from '../../metrics/health.js';
import { storeCheck } from '../../store/health.js';
import type { Store } from '../../store/index.js';
import { CONSOLE_CSP, CONSOLE_DEFAULTS, CONSOLE_PREFIX, consolePlugin, type ConsoleApiOptions } from '../console/plugin.js';
import { importTerminalsCsv } from '../import.js';
import { actorOf, bearerOperator, requireRole } from './auth.js';
import { PROXIES, TERMINALS, principalRoutes } from './principal-routes.js';
import { operatorRoutes } from './operator-routes.js';
import { voicemailApiRoutes } from '../licence/api-routes.js';
import type { LiveRoles } from '../../control/live-roles.js';
import * as S from './schemas.js';

export interface ApiOptions {
  store: Store;
  logger: Logger;
  bodyLimit: number;
  version?: string;
  /**
   * The process's health (listeners, store, disk): `/healthz` answers from it.
   * Without it, `/healthz` checks the store alone.
   */
  health?: Health;
  /** Roles running in this process (`keyswitch up`): the operator routes reach the SBC directly (docs/operations.md). */
  live?: LiveRoles;
  /** The intrusion detection of the process (docs/ids.md): screens requests, reads sign-in outcomes; its operator routes. */
  ids?: { engine: IdsEngine; reload(): { ok: true; rules: number } | { ok: false; error: string }; stateDir?: string };
  /** The web console under /console (docs/console.md): its settings and the process's metrics. */
  console?: ConsoleApiOptions;
}

const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    db: { type: 'string' },
    listeners: { type: 'integer', description: 'Listeners of this process that are up.' },
    down: {
      type: 'array',
      description: 'What is down: a listener (with its address), the store or the disk.',
      items: { type: 'object', properties: { part: { type: 'string' }, address: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
} as const;

/**
 * Headers on every answer. None of these answers is for a browser to sniff,
 * frame, cache or follow: keys and tokens appear in some, so nothing is
 * stored (no-store everywhere rather than on a list that could miss one).
 * The OpenAPI page under /docs runs swagger-ui's own scripts and styles.
 */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
} as const;
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const QUERY_NUMBERS = ['offset', 'limit'] as const;

/** Stable machine-readable `code` of a 4xx answer, beside its human message. */
function clientErrorCode(err: Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string }, status: number): string {
  if (err.validation) return `invalid-${err.validationContext ?? 'request'}`;
  if (status === 413) return 'body-too-large';
  if (status === 415) return 'unsupported-media-type';
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'invalid-body';
  if (status === 404) return 'not-found';
  return 'bad-request';
}

/** A Health with the store check only, for an API built without its process's Health (tests, tools). */
function storeOnlyHealth(store: Store): Health {
  const h = new Health();
  h.check('store', storeCheck(store));
  return h;
}

export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { store } = opts;
  const app = Fastify({
    loggerInstance: opts.logger.child({ role: 'auc-api' }) as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  // 5xx answers say nothing of the cause (the log has it, as a name and a code:
  // a database error's message would carry its SQL); 4xx keep their message.
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      req.log.error({ err: { name: err.name, code: err.code, message: err.message } }, 'request failed');
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', code: 'internal', message: 'internal error; see the server log' });
    }
    const error = status === 413 ? 'Payload Too Large' : status === 415 ? 'Unsupported Media Type' : status === 404 ? 'Not Found' : 'Bad Request';
    return reply.code(status).send({ statusCode: status, error, code: clientErrorCode(err, status), message: err.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', code: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  // Paging numbers are checked as text before ajv coerces them: `1e309` coerces to
  // Infinity, which ajv's integer and maximum keywords both let through.
  app.addHook('preValidation', async (req, reply) => {
    const q = req.query as Record<string, unknown> | null | undefined;
    if (!q || typeof q !== 'object') return;
    for (const k of QUERY_NUMBERS) {
      const v = q[k];
      if (v !== undefined && (typeof v !== 'string' || !/^[0-9]{1,15}$/.test(v))) {
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', code: 'invalid-querystring', message: `querystring/${k} must be a whole number of at most 15 digits` });
      }
    }
  });

  if (opts.ids) {
    const store = opts.store;
    idsHooks(app, opts.ids.engine, async (req) => (await bearerOperator(store, req)) !== undefined);
  }

  app.addHook('onSend', async (req, reply, payload) => {
    reply.headers(SECURITY_HEADERS);
    const docs = req.url === '/docs' || req.url.startsWith('/docs/');
    const consolePage = req.url === CONSOLE_PREFIX || req.url.startsWith(`${CONSOLE_PREFIX}/`) || req.url.startsWith(`${CONSOLE_PREFIX}?`);
    reply.header('content-security-policy', docs ? DOCS_CSP : consolePage ? CONSOLE_CSP : API_CSP);
    if (!docs) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'keyswitch AuC provisioning API', version: opts.version ?? '0.1.0', description: 'Terminals (IDc, Kc) and proxies (IDsp, Ksp) of the authentication center. A generated key is returned once, at creation or rotation.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  const health = opts.health ?? storeOnlyHealth(store);
  app.get(
    '/healthz',
    { schema: { summary: 'Health: 200 when every listener, the store and the disk are up; 503 naming what is down', response: { 200: healthSchema, 503: healthSchema } } },
    async (_req, reply) => {
      const { status, body } = await healthAnswer(health, { db: store.db.engine });
      return reply.code(status).send(body);
    },
  );

  await app.register(consolePlugin, { prefix: CONSOLE_PREFIX, store, ...(opts.live ? { live: opts.live } : {}), ...CONSOLE_DEFAULTS, ...opts.console });

  principalRoutes(app, store, TERMINALS);
  principalRoutes(app, store, PROXIES);

  app.post<{ Body: string }>(
    '/v1/terminals/import',
    {
      preHandler: requireRole(store, 'admin'),
      schema: {
        tags: ['terminals'],
        security: [{ bearer: [] }],
        summary: 'Bulk import terminals from CSV (header idc,key,sip_password); generated keys are in this answer only',
        consumes: ['text/csv'],
        body: { type: 'string', minLength: 1 },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              created: { type: 'integer' },
              unchanged: { type: 'integer' },
              failed: { type: 'integer' },
              errors: { type: 'array', items: { type: 'object', properties: { line: { type: 'integer' }, idc: { type: 'string' }, message: { type: 'string' } } } },
              generated: { type: 'array', items: { type: 'object', properties: { idc: { type: 'string' }, key: { type: 'string' } } } },
            },
          },
        },
      },
    },
    async (req) => importTerminalsCsv(store, req.body, { actor: actorOf(req) }),
  );

  // registrations, failures and lockouts, blocked sources, failures per source, the audit log
  operatorRoutes(app, store, opts.live);
  if (opts.ids) idsRoutes(app, store, opts.ids.engine, opts.ids.reload, opts.ids.stateDir);

  // voicemail: messages, revocation, voicemail passwords (docs/voicemail.md)
  voicemailApiRoutes(app, store);

  return app;
}
