import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role, Store } from '../../store/index.js';
import type { OperatorToken } from '../../store/tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    operator?: OperatorToken;
  }
}

const BEARER = /^Bearer\s+(\S+)$/i;
/** One token lookup per request, whoever asks first (the IDS hook, then the route's check). */
const checked = new WeakMap<FastifyRequest, Promise<OperatorToken | undefined>>();

/** The operator a request's bearer token names, or undefined (no token, unknown or revoked). */
export function bearerOperator(store: Store, req: FastifyRequest): Promise<OperatorToken | undefined> {
  let p = checked.get(req);
  if (!p) {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? BEARER.exec(h) : null;
    p = m ? store.tokens.verify(m[1]!) : Promise.resolve(undefined);
    checked.set(req, p);
  }
  return p;
}

/** Bearer-token check; `admin` may write, `viewer` may only read. */
export function requireRole(store: Store, role: Role) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const h = req.headers.authorization;
    if (typeof h !== 'string' || !BEARER.test(h)) {
      reply.header('WWW-Authenticate', 'Bearer realm="keyswitch"');
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', code: 'unauthorized', message: 'missing bearer token' });
    }
    const op = await bearerOperator(store, req);
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
