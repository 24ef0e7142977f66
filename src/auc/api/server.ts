import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Store } from '../../store/index.js';
import { importTerminalsCsv } from '../import.js';
import { actorOf, requireRole } from './auth.js';
import { PROXIES, TERMINALS, principalRoutes } from './principal-routes.js';
import * as S from './schemas.js';

export interface ApiOptions {
  store: Store;
  logger: Logger;
  bodyLimit: number;
  version?: string;
}

const health = { type: 'object', properties: { status: { type: 'string' }, db: { type: 'string' } } } as const;

export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const { store } = opts;
  const app = Fastify({
    loggerInstance: opts.logger.child({ role: 'auc-api' }) as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  // 5xx answers say nothing of the cause (the log has it); 4xx keep their message.
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      req.log.error({ err: { message: err.message, name: err.name } }, 'request failed');
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'internal error; see the server log' });
    }
    const error = status === 413 ? 'Payload Too Large' : status === 415 ? 'Unsupported Media Type' : 'Bad Request';
    return reply.code(status).send({ statusCode: status, error, message: err.message });
  });

  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'keyswitch AuC provisioning API', version: opts.version ?? '0.1.0', description: 'Terminals (IDc, Kc) and proxies (IDsp, Ksp) of the authentication center. A generated key is returned once, at creation or rotation.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/healthz', { schema: { summary: 'Liveness and database reachability', response: { 200: health, 503: health } } }, async (_req, reply) => {
    try {
      await store.db.knex.raw('select 1');
      return { status: 'ok', db: store.db.engine };
    } catch {
      return reply.code(503).send({ status: 'unavailable', db: store.db.engine });
    }
  });

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

  app.get<{ Querystring: { offset: number; limit: number } }>(
    '/v1/audit',
    {
      preHandler: requireRole(store, 'viewer'),
      schema: {
        tags: ['audit'],
        security: [{ bearer: [] }],
        summary: 'The audit log, newest first',
        querystring: { type: 'object', properties: { offset: S.paging.properties.offset, limit: S.paging.properties.limit }, additionalProperties: false },
      },
    },
    async (req) => store.audit.list(req.query.offset, req.query.limit),
  );

  return app;
}
