import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Principal, Store } from '../../store/index.js';
import { DuplicateError } from '../../store/index.js';
import type { PrincipalRepo } from '../../store/principals.js';
import { Operations, principalView, type PrincipalView } from '../operations.js';
import { identityProblem } from '../validate.js';
import { actorOf, requireRole } from './auth.js';
import * as S from './schemas.js';

interface Kind {
  /** URL segment and audit noun: terminals/terminal, proxies/proxy. */
  plural: 'terminals' | 'proxies';
  singular: 'terminal' | 'proxy';
  idName: 'idc' | 'idsp';
  repo: (s: Store) => PrincipalRepo;
  sip: boolean;
}

export const TERMINALS: Kind = { plural: 'terminals', singular: 'terminal', idName: 'idc', repo: (s) => s.terminals, sip: true };
export const PROXIES: Kind = { plural: 'proxies', singular: 'proxy', idName: 'idsp', repo: (s) => s.proxies, sip: false };


const notFound = (kind: Kind, id: string) => ({ statusCode: 404, error: 'Not Found', code: 'not-found', message: `${kind.singular} ${JSON.stringify(id)} does not exist` });

/** CRUD for one kind of principal; terminals and proxies share the shape. */
export function principalRoutes(app: FastifyInstance, store: Store, kind: Kind): void {
  const repo = kind.repo(store);
  const ops = new Operations(store);
  // Terminals carry their lock state (status 'locked', failures, lockedUntil); proxies have none.
  const view = async (p: Principal, key?: Buffer): Promise<PrincipalView> =>
    kind.sip ? principalView(p, { failure: (await store.failures.get(p.id)) ?? null, now: store.now(), ...(key ? { key } : {}) }) : principalView(p, { now: store.now(), ...(key ? { key } : {}) });
  const admin = requireRole(store, 'admin');
  const viewer = requireRole(store, 'viewer');
  const base = `/v1/${kind.plural}`;
  const idParams = { type: 'object', properties: { id: S.identity }, required: ['id'] } as const;
  const tags = [kind.plural];
  const security = [{ bearer: [] }];
  const answers = { 200: S.principal, 400: S.error, 401: S.error, 403: S.error, 404: S.error };

  app.post<{ Body: { id: string; key?: string; sipPassword?: string } }>(
    base,
    {
      onRequest: admin,
      schema: {
        tags,
        security,
        summary: `Create a ${kind.singular}; without a key, one is generated and returned once`,
        body: {
          type: 'object',
          properties: { id: S.identity, key: S.keyHex, ...(kind.sip ? { sipPassword: S.sipPassword } : {}) },
          required: ['id'],
          additionalProperties: false,
        },
        response: { 201: S.principal, 400: S.error, 401: S.error, 403: S.error, 409: S.error },
      },
    },
    async (req, reply) => {
      const { id, key: hex, sipPassword } = req.body;
      const problem = identityProblem(id, kind.singular);
      if (problem) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', code: 'invalid-identity', message: problem });
      const key = hex ? Buffer.from(hex, 'hex') : randomBytes(32);
      try {
        const p = await repo.create(id, key, sipPassword);
        await store.audit.add(actorOf(req), `${kind.singular}.create`, id, { keyGenerated: !hex, sipPassword: Boolean(sipPassword) });
        return reply.code(201).send(await view(p, hex ? undefined : key));
      } catch (err) {
        if (err instanceof DuplicateError) return reply.code(409).send({ statusCode: 409, error: 'Conflict', code: 'exists', message: err.message });
        throw err;
      }
    },
  );

  app.get<{ Querystring: { offset: number; limit: number; prefix?: string } }>(
    base,
    {
      onRequest: viewer,
      schema: {
        tags,
        security,
        summary: `List ${kind.plural}, paged, optionally by identity prefix`,
        querystring: S.paging,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: S.principal }, total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' } },
          },
        },
      },
    },
    async (req) => {
      const page = await repo.list(req.query.offset, req.query.limit, req.query.prefix);
      const now = store.now();
      return { ...page, items: kind.sip ? await ops.terminalViews(page.items) : page.items.map((p) => principalView(p, { now })) };
    },
  );

  app.get<{ Params: { id: string } }>(
    `${base}/:id`,
    { onRequest: viewer, schema: { tags, security, summary: `Show one ${kind.singular}`, params: idParams, response: answers } },
    async (req, reply) => {
      const p = await repo.get(req.params.id);
      return p ? await view(p) : reply.code(404).send(notFound(kind, req.params.id));
    },
  );

  app.post<{ Params: { id: string }; Body: { key?: string } | undefined }>(
    `${base}/:id/rotate`,
    {
      onRequest: admin,
      schema: {
        tags,
        security,
        summary: `Replace the long-term key; without a key, one is generated and returned once`,
        params: idParams,
        body: { type: 'object', properties: { key: S.keyHex }, additionalProperties: false },
        response: answers,
      },
    },
    async (req, reply) => {
      const hex = req.body?.key;
      const key = hex ? Buffer.from(hex, 'hex') : randomBytes(32);
      const p = await repo.rotate(req.params.id, key);
      if (!p) return reply.code(404).send(notFound(kind, req.params.id));
      await store.audit.add(actorOf(req), `${kind.singular}.rotate`, req.params.id, { keyGenerated: !hex, keyGeneration: p.keyGeneration });
      return await view(p, hex ? undefined : key);
    },
  );

  for (const [verb, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `${base}/:id/${verb}`,
      { onRequest: admin, schema: { tags, security, summary: `${verb[0].toUpperCase()}${verb.slice(1)} a ${kind.singular}`, params: idParams, response: answers } },
      async (req, reply) => {
        const p = await repo.setStatus(req.params.id, status);
        if (!p) return reply.code(404).send(notFound(kind, req.params.id));
        await store.audit.add(actorOf(req), `${kind.singular}.${verb}`, req.params.id);
        return await view(p);
      },
    );
  }

  if (kind.sip) {
    app.put<{ Params: { id: string }; Body: { sipPassword: string | null } }>(
      `${base}/:id/sip-password`,
      {
        onRequest: admin,
        schema: {
          tags,
          security,
          summary: 'Set (or with null, remove) the SIP Digest password',
          params: idParams,
          body: { type: 'object', properties: { sipPassword: { anyOf: [S.sipPassword, { type: 'null' }] } }, required: ['sipPassword'], additionalProperties: false },
          response: answers,
        },
      },
      async (req, reply) => {
        const p = await repo.setSipPassword(req.params.id, req.body.sipPassword);
        if (!p) return reply.code(404).send(notFound(kind, req.params.id));
        await store.audit.add(actorOf(req), `${kind.singular}.sip-password`, req.params.id, { set: req.body.sipPassword !== null });
        return await view(p);
      },
    );

    app.post<{ Params: { id: string } }>(
      `${base}/:id/unlock`,
      {
        onRequest: admin,
        schema: { tags, security, summary: 'Clear the lockout and the failure count of a terminal (audited)', params: idParams, response: answers },
      },
      async (req, reply) => {
        const r = await ops.unlock(req.params.id, actorOf(req));
        return r ? r.terminal : reply.code(404).send(notFound(kind, req.params.id));
      },
    );
  }

  app.delete<{ Params: { id: string } }>(
    `${base}/:id`,
    { onRequest: admin, schema: { tags, security, summary: `Delete a ${kind.singular}`, params: idParams, response: { 204: { type: 'null' }, 401: S.error, 403: S.error, 404: S.error } } },
    async (req, reply) => {
      if (!(await repo.delete(req.params.id))) return reply.code(404).send(notFound(kind, req.params.id));
      await store.audit.add(actorOf(req), `${kind.singular}.delete`, req.params.id);
      return reply.code(204).send();
    },
  );
}
