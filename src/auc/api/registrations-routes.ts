import type { FastifyInstance } from 'fastify';
import type { RegistrationFilter } from '../../store/registrations.js';
import type { Operations } from '../operations.js';
import { actorOf, requireRole } from './auth.js';
import * as O from './operations-schemas.js';
import * as S from './schemas.js';

const tags = ['registrations'];
const security = [{ bearer: [] }];

interface ListQuery {
  offset: number;
  limit: number;
  idc?: string;
  prefix?: string;
  protocol?: string;
  idsp?: string;
  mechanism?: string;
  source?: string;
}

function filterOf(q: ListQuery): RegistrationFilter {
  return {
    ...(q.idc !== undefined ? { idc: q.idc } : {}),
    ...(q.prefix ? { prefix: q.prefix } : {}),
    ...(q.protocol !== undefined ? { protocol: q.protocol } : {}),
    ...(q.idsp !== undefined ? { idsp: q.idsp } : {}),
    ...(q.mechanism !== undefined ? { mechanism: q.mechanism } : {}),
    ...(q.source !== undefined ? { ipc: q.source } : {}),
  };
}

/** Live registrations (every protocol, as the AuC recorded them), and operator de-registration. */
export function registrationRoutes(app: FastifyInstance, ops: Operations, admin: ReturnType<typeof requireRole>, viewer: ReturnType<typeof requireRole>): void {
  app.get<{ Querystring: ListQuery }>(
    '/v1/registrations',
    {
      onRequest: viewer,
      schema: { tags, security, summary: 'Live registrations, filtered (idc, prefix, protocol, idsp, mechanism, source) and paged', querystring: O.registrationQuery, response: { 200: O.page(O.registration), 400: S.error, 401: S.error } },
    },
    async (req) => ops.registrations(filterOf(req.query), req.query.offset, req.query.limit),
  );

  app.get<{ Params: { idc: string } }>(
    '/v1/registrations/:idc',
    {
      onRequest: viewer,
      schema: {
        tags,
        security,
        summary: 'The live registrations of one IDc (an empty list when it holds none)',
        params: { type: 'object', properties: { idc: S.identity }, required: ['idc'] },
        response: { 200: O.page(O.registration), 400: S.error, 401: S.error },
      },
    },
    async (req) => ops.registrations({ idc: req.params.idc }, 0, 1000),
  );

  app.delete<{ Params: { idc: string }; Querystring: { protocol?: string; contact?: string } }>(
    '/v1/registrations/:idc',
    {
      onRequest: admin,
      schema: {
        tags,
        security,
        summary: 'De-register an IDc: its registrations (or those of one protocol or contact), SIP bindings and, once none is left, its SBC session (audited)',
        params: { type: 'object', properties: { idc: S.identity }, required: ['idc'] },
        querystring: O.deregisterQuery,
        response: { 200: O.deregistered, 400: S.error, 401: S.error, 403: S.error, 404: S.error },
      },
    },
    async (req, reply) => {
      const r = await ops.deregister(req.params.idc, req.query, actorOf(req));
      return r ?? reply.code(404).send({ statusCode: 404, error: 'Not Found', code: 'not-registered', message: `${JSON.stringify(req.params.idc)} holds no such registration` });
    },
  );
}
