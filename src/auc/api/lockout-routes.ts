import type { FastifyInstance } from 'fastify';
import type { Operations } from '../operations.js';
import type { requireRole } from './auth.js';
import * as O from './operations-schemas.js';
import * as S from './schemas.js';

/**
 * Authentication failures and lockouts per identity. Unlocking is
 * POST /v1/terminals/{id}/unlock (principal-routes.ts), beside disable and enable.
 */
export function lockoutRoutes(app: FastifyInstance, ops: Operations, viewer: ReturnType<typeof requireRole>): void {
  app.get<{ Querystring: { offset: number; limit: number; prefix?: string; locked?: boolean } }>(
    '/v1/failures',
    {
      onRequest: viewer,
      schema: {
        tags: ['failures'],
        security: [{ bearer: [] }],
        summary: 'Authentication failures and lockouts per terminal: locked ones first; ?locked=true for those only',
        querystring: O.failureQuery,
        response: { 200: O.page(O.failure), 400: S.error, 401: S.error },
      },
    },
    async (req) => ops.failures({ ...(req.query.locked ? { locked: true } : {}), ...(req.query.prefix ? { prefix: req.query.prefix } : {}) }, req.query.offset, req.query.limit),
  );
}
