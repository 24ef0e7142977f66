import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role, Store } from '../../store/index.js';
import type { OperatorToken } from '../../store/tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    operator?: OperatorToken;
  }
}

/** Bearer-token check; `admin` may write, `viewer` may only read. */
export function requireRole(store: Store, role: Role) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    if (!m) {
      reply.header('WWW-Authenticate', 'Bearer realm="keyswitch"');
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', code: 'unauthorized', message: 'missing bearer token' });
    }
    const op = await store.tokens.verify(m[1]);
    if (!op) {
      reply.header('WWW-Authenticate', 'Bearer realm="keyswitch", error="invalid_token"');
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', code: 'unauthorized', message: 'invalid or revoked token' });
    }
    if (role === 'admin' && op.role !== 'admin') {
      return reply.code(403).send({ statusCode: 403, error: 'Forbidden', code: 'forbidden', message: 'this token may only read (role viewer)' });
    }
    req.operator = op;
  };
}

export function actorOf(req: FastifyRequest): string {
  return req.operator ? `token:${req.operator.id}(${req.operator.role}${req.operator.label ? `:${req.operator.label}` : ''})` : 'anonymous';
}
