import type { FastifyInstance } from 'fastify';
import type { Store } from '../../store/index.js';
import { actorOf, requireRole } from '../api/auth.js';
import { listMessages, revokeMessage, setVoicemailPassword } from './operator.js';

const err = (status: number, code: string, message: string) => ({ statusCode: status, error: status === 404 ? 'Not Found' : 'Bad Request', code, message });

/**
 * Voicemail on the provisioning API (operator tokens): the messages and
 * their grants (never a key), revocation, subscribers' voicemail passwords
 * (docs/voicemail.md).
 */
export function voicemailApiRoutes(app: FastifyInstance, store: Store): void {
  const admin = requireRole(store, 'admin');
  const viewer = requireRole(store, 'viewer');
  app.get<{ Querystring: { offset?: number; limit?: number } }>(
    '/v1/voicemail/messages',
    {
      preHandler: viewer,
      schema: {
        tags: ['voicemail'],
        security: [{ bearer: [] }],
        summary: 'Voicemail messages with their grants (owner, sender, rights left); never a key',
        querystring: { type: 'object', properties: { offset: { type: 'integer', minimum: 0, default: 0 }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 } }, additionalProperties: false },
      },
    },
    async (req) => listMessages(store, req.query.offset ?? 0, req.query.limit ?? 50),
  );
  app.post<{ Params: { id: string } }>(
    '/v1/voicemail/messages/:id/revoke',
    { preHandler: admin, schema: { tags: ['voicemail'], security: [{ bearer: [] }], summary: 'Revoke a message: no licence to anyone after (audited)', params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } } },
    async (req, reply) => {
      const v = await revokeMessage(store, req.params.id, actorOf(req));
      return v ?? reply.code(404).send(err(404, 'not-found', `no voicemail message ${JSON.stringify(req.params.id)}`));
    },
  );
  app.put<{ Params: { idc: string }; Body: { password: string } }>(
    '/v1/voicemail/passwords/:idc',
    {
      preHandler: admin,
      schema: {
        tags: ['voicemail'],
        security: [{ bearer: [] }],
        summary: "Set a subscriber's voicemail password (sign-in to the voicemail page and licence requests); stored as a scrypt hash",
        params: { type: 'object', properties: { idc: { type: 'string', maxLength: 255 } }, required: ['idc'] },
        body: { type: 'object', properties: { password: { type: 'string' } }, required: ['password'], additionalProperties: false },
      },
    },
    async (req, reply) => {
      const r = await setVoicemailPassword(store, req.params.idc, req.body.password, actorOf(req));
      if ('refused' in r) return reply.code(r.refused.includes('does not exist') ? 404 : 400).send(err(r.refused.includes('does not exist') ? 404 : 400, r.refused.includes('does not exist') ? 'not-found' : 'invalid-body', r.refused));
      return r;
    },
  );
  app.delete<{ Params: { idc: string } }>(
    '/v1/voicemail/passwords/:idc',
    { preHandler: admin, schema: { tags: ['voicemail'], security: [{ bearer: [] }], summary: "Remove a subscriber's voicemail password (its SIP password, if any, signs in again)", params: { type: 'object', properties: { idc: { type: 'string', maxLength: 255 } }, required: ['idc'] } } },
    async (req, reply) => {
      const r = await setVoicemailPassword(store, req.params.idc, null, actorOf(req));
      if ('refused' in r) return reply.code(404).send(err(404, 'not-found', r.refused));
      return r;
    },
  );
}
