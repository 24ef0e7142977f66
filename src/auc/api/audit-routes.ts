import type { FastifyInstance } from 'fastify';
import type { AuditFilter } from '../../store/audit.js';
import { parseTimeBound, type Operations } from '../operations.js';
import type { requireRole } from './auth.js';
import * as O from './operations-schemas.js';
import * as S from './schemas.js';

interface AuditQuery {
  offset: number;
  limit: number;
  target?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
}

/** The audit log, newest first, filtered by target, actor, action and time. */
export function auditRoutes(app: FastifyInstance, ops: Operations, viewer: ReturnType<typeof requireRole>): void {
  app.get<{ Querystring: AuditQuery }>(
    '/v1/audit',
    {
      onRequest: viewer,
      schema: {
        tags: ['audit'],
        security: [{ bearer: [] }],
        summary: 'The audit log, newest first; filter by target (exact), actor and action (prefix), since and until (ISO 8601)',
        querystring: O.auditQuery,
        response: { 200: O.page(O.auditEntry), 400: S.error, 401: S.error },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const filter: AuditFilter = {};
      if (q.target !== undefined) filter.target = q.target;
      if (q.actor) filter.actor = q.actor;
      if (q.action) filter.action = q.action;
      for (const k of ['since', 'until'] as const) {
        const text = q[k];
        if (text === undefined) continue;
        const t = parseTimeBound(text, k);
        if (!t.ok) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', code: 'invalid-querystring', message: t.problem });
        filter[k] = t.ms;
      }
      return ops.audit(filter, q.offset, q.limit);
    },
  );
}
