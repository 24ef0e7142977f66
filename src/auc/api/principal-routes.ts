import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Principal, Store } from '../../store/index.js';
import type { PrincipalRepo } from '../../store/principals.js';
import { Operations, principalView, type PrincipalView } from '../operations.js';
import { createPrincipal, deletePrincipal, isRefusal, rotatePrincipal, setPrincipalStatus, setTerminalSipPassword, type Refusal } from '../provisioning.js';
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
const ERROR_NAMES = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict' } as const;
const refuse = (reply: FastifyReply, r: Refusal) => reply.code(r.refused).send({ statusCode: r.refused, error: ERROR_NAMES[r.refused], code: r.code, message: r.message });

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
      const { id, key: keyHex, sipPassword } = req.body;
      const r = await createPrincipal(store, kind.singular, id, { keyHex, sipPassword }, actorOf(req));
      return isRefusal(r) ? refuse(reply, r) : reply.code(201).send(await view(r.principal, r.key));
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
      const r = await rotatePrincipal(store, kind.singular, req.params.id, req.body?.key ?? '', actorOf(req));
      return isRefusal(r) ? refuse(reply, r) : await view(r.principal, r.key);
    },
  );

  for (const verb of ['disable', 'enable'] as const) {
    app.post<{ Params: { id: string } }>(
      `${base}/:id/${verb}`,
      { onRequest: admin, schema: { tags, security, summary: `${verb[0].toUpperCase()}${verb.slice(1)} a ${kind.singular}`, params: idParams, response: answers } },
      async (req, reply) => {
        const r = await setPrincipalStatus(store, kind.singular, req.params.id, verb, actorOf(req));
        return isRefusal(r) ? refuse(reply, r) : await view(r);
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
        const r = await setTerminalSipPassword(store, req.params.id, req.body.sipPassword, actorOf(req));
        return isRefusal(r) ? refuse(reply, r) : await view(r);
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
      const r = await deletePrincipal(store, kind.singular, req.params.id, actorOf(req));
      return isRefusal(r) ? refuse(reply, r) : reply.code(204).send();
    },
  );
}
