import type { FastifyInstance } from 'fastify';
import { sourceProblem, type Operations } from '../operations.js';
import { actorOf, type requireRole } from './auth.js';
import * as O from './operations-schemas.js';
import * as S from './schemas.js';

const tags = ['sbc'];
const security = [{ bearer: [] }];
const paged = { type: 'object', properties: { offset: S.paging.properties.offset, limit: S.paging.properties.limit }, additionalProperties: false } as const;

/** The SBCs' blocked sources (with unblock) and failures per source (docs/operations.md). */
export function blockedRoutes(app: FastifyInstance, ops: Operations, admin: ReturnType<typeof requireRole>, viewer: ReturnType<typeof requireRole>): void {
  app.get<{ Querystring: { offset: number; limit: number } }>(
    '/v1/blocked',
    { onRequest: viewer, schema: { tags, security, summary: 'Sources the SBCs block now, with reason and expiry, newest first', querystring: paged, response: { 200: O.page(O.block), 400: S.error, 401: S.error } } },
    async (req) => ops.blocked(req.query.offset, req.query.limit),
  );

  app.delete<{ Params: { source: string } }>(
    '/v1/blocked/:source',
    {
      onRequest: admin,
      schema: {
        tags,
        security,
        summary: 'Lift the blocks of a source at every SBC (the SBC in this process at once, SBCs run apart within their poll interval; audited)',
        params: { type: 'object', properties: { source: { type: 'string', minLength: 1, maxLength: 300 } }, required: ['source'] },
        response: { 200: O.unblocked, 400: S.error, 401: S.error, 403: S.error },
      },
    },
    async (req, reply) => {
      const problem = sourceProblem(req.params.source);
      if (problem) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', code: 'invalid-source', message: problem });
      return ops.unblock(req.params.source, actorOf(req));
    },
  );

  app.get<{ Querystring: { offset: number; limit: number } }>(
    '/v1/source-failures',
    {
      onRequest: viewer,
      schema: { tags, security, summary: 'Failures per source address at the SBCs (signature failures among them), most first', querystring: paged, response: { 200: O.page(O.sourceFailure), 400: S.error, 401: S.error } },
    },
    async (req) => ops.sourceFailures(req.query.offset, req.query.limit),
  );
}
