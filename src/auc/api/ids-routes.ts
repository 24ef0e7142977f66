/**
 * The intrusion detection on the HTTP side and for operators (docs/ids.md).
 *
 * Hooks: every request is screened (floods, injection in the URL and in a
 * body's text fields) before its route runs; each answer is read for the
 * authentication's outcome: a 401 to a request that carried a token, or to a
 * console sign-in, is a failure; a 401 to a request without any is the
 * challenge and counts for nothing; a success with a token counts in the
 * source's favour.
 *
 * Routes: blocks with reason and expiry (unblock), partners, rule counts,
 * reload of the rule file.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IdsEngine } from '../../ids/engine.js';
import type { Verdict } from '../../ids/types.js';
import { readIdsStates, type IdsState } from '../../ids/service.js';
import type { Store } from '../../store/index.js';
import { actorOf, requireRole } from './auth.js';

const LOGIN = /^\/console\/login\/?(\?|$)/;

function sourceOf(req: FastifyRequest): { address: string; port: number } {
  return { address: req.socket.remoteAddress ?? req.ip, port: req.socket.remotePort ?? 0 };
}

function decoded(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

async function refuse(v: Verdict, reply: FastifyReply): Promise<FastifyReply> {
  if (v.kind === 'reject') {
    if (v.retryAfter !== undefined) reply.header('retry-after', String(v.retryAfter));
    return reply.code(v.status).send({ statusCode: v.status, error: v.status === 503 ? 'Service Unavailable' : 'Forbidden', code: v.status === 503 ? 'busy' : 'refused', message: 'refused' });
  }
  return reply.code(403).send({ statusCode: 403, error: 'Forbidden', code: 'refused', message: 'refused' });
}

/**
 * `operator`: whether a request carries a valid operator token. An operator's
 * body is not screened for injection: an id an operator types is answered by
 * validation (400 stating the rule), and the audit log names who sent it; a
 * request without a valid token is screened.
 */
export function idsHooks(app: FastifyInstance, ids: IdsEngine, operator?: (req: FastifyRequest) => Promise<boolean>): void {
  app.addHook('onRequest', async (req, reply) => {
    const { address, port } = sourceOf(req);
    const v = ids.inspect({ protocol: 'http', transport: 'tcp', address, port, method: req.method, userAgent: req.headers['user-agent'], fields: { url: decoded(req.url) } });
    if (v.kind !== 'pass') return refuse(v, reply);
  });
  // Text fields of a body (ids, names) are scanned once parsed; passwords and keys are values to check, not to scan.
  app.addHook('preValidation', async (req, reply) => {
    const b = req.body;
    if (!b || typeof b !== 'object' || Array.isArray(b)) return;
    const fields: Record<string, string> = {};
    let n = 0;
    for (const [k, val] of Object.entries(b as Record<string, unknown>)) {
      if (typeof val !== 'string' || /password|key|token|secret/i.test(k) || ++n > 20) continue;
      fields[k] = val.slice(0, 1024);
    }
    if (n === 0) return;
    if (operator && (await operator(req))) return;
    const { address, port } = sourceOf(req);
    const v = ids.inspect({ protocol: 'http', transport: 'tcp', address, port, method: `${req.method}-BODY`, fields });
    if (v.kind !== 'pass') return refuse(v, reply);
  });
  app.addHook('onResponse', async (req, reply) => {
    const tried = typeof req.headers.authorization === 'string' || (req.method === 'POST' && LOGIN.test(req.url));
    if (!tried) return;
    const s = reply.statusCode;
    const { address, port } = sourceOf(req);
    const base = { protocol: 'http' as const, transport: 'tcp', address, port, mechanism: 'http' as const, method: req.method };
    if (s === 401) ids.outcome({ ...base, kind: 'auth-failure', reason: LOGIN.test(req.url) ? 'console sign-in' : 'API token' });
    else if (s < 400 && req.operator) ids.outcome({ ...base, kind: 'auth-success', identity: `token:${req.operator.id}` });
  });
}

const tags = ['ids'];
const security = [{ bearer: [] }];

/**
 * The IDS of this process live, and those of the other processes of the same
 * data directory (the SBC of `keyswitch up` runs in its own) as they wrote
 * them last (at most 10 s old). SBCs on other hosts: their blocks are in
 * /v1/blocked (through the store).
 */
export function idsRoutes(app: FastifyInstance, store: Store, ids: IdsEngine, reload: () => { ok: true; rules: number } | { ok: false; error: string }, stateDir?: string): void {
  const viewer = requireRole(store, 'viewer');
  const admin = requireRole(store, 'admin');
  const iso = (t: number) => new Date(t).toISOString();
  const own = (): IdsState => ({ pid: process.pid, writtenAt: Date.now(), rulesFile: ids.rules.source, blocks: ids.blocks(), partners: ids.partners(1000), rules: ids.ruleCounts(), sizes: ids.sizes() });
  const all = (): IdsState[] => [own(), ...(stateDir ? readIdsStates(stateDir).filter((s) => s.pid !== process.pid) : [])];
  app.get('/v1/ids/blocks', { onRequest: viewer, schema: { tags, security, summary: 'Blocks of the intrusion detection: target (address, address:port, id:<identity>), scope, rule, reason, expiry, per process' } }, async () => ({
    items: all().flatMap((st) =>
      st.blocks.map((b) => ({ process: st.pid, target: b.target, scope: b.scope, rule: b.rule, reason: b.reason, since: iso(b.since), expiresAt: iso(b.until), expiresInSeconds: Math.max(0, Math.ceil((b.until - Date.now()) / 1000)), hits: b.hits })),
    ),
  }));
  app.delete<{ Params: { target: string } }>(
    '/v1/ids/blocks/:target',
    { onRequest: admin, schema: { tags, security, summary: 'Lift a block of the intrusion detection (audited)', params: { type: 'object', properties: { target: { type: 'string', minLength: 1, maxLength: 300 } }, required: ['target'] } } },
    async (req) => {
      const lifted = ids.unblock(req.params.target);
      await store.audit.add(actorOf(req), 'ids.unblock', req.params.target, { lifted });
      return { target: req.params.target, lifted };
    },
  );
  app.get<{ Querystring: { limit?: number } }>(
    '/v1/ids/partners',
    { onRequest: viewer, schema: { tags, security, summary: 'Partners the intrusion detection tracks (flows, addresses, identities), most recent first', querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false } } },
    async (req) => {
      const states = all();
      const items = states
        .flatMap((st) => st.partners.map((p) => ({ process: st.pid, ...p })))
        .sort((a, b) => b.last - a.last)
        .slice(0, req.query.limit ?? 100)
        .map((p) => ({ ...p, created: iso(p.created), last: iso(p.last), goodAt: p.goodAt === undefined ? undefined : iso(p.goodAt) }));
      return { items, sizes: states.map((st) => ({ process: st.pid, ...st.sizes })) };
    },
  );
  app.get('/v1/ids/rules', { onRequest: viewer, schema: { tags, security, summary: 'The rules in force with their counts (matched, fired, dropped, answered, blocked), per process' } }, async () => ({
    items: all().flatMap((st) => st.rules.map((c) => ({ process: st.pid, file: st.rulesFile, ...c, lastFiredAt: c.lastFiredAt === undefined ? undefined : iso(c.lastFiredAt) }))),
  }));
  app.post('/v1/ids/reload', { onRequest: admin, schema: { tags, security, summary: 'Re-read the rule file now (as SIGHUP does); a file that fails is refused and the rules in force stay (audited)' } }, async (req, reply) => {
    const r = reload();
    await store.audit.add(actorOf(req), 'ids.reload', ids.rules.source, r.ok ? { rules: r.rules } : { error: r.error });
    return r.ok ? r : reply.code(400).send({ statusCode: 400, error: 'Bad Request', code: 'invalid-rules', message: r.error });
  });
}
