import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../store/index.js';
import { actorOf } from '../../api/auth.js';
import { principalView } from '../../operations.js';
import {
  createPrincipal,
  deletePrincipal,
  isRefusal,
  repoOf,
  rotatePrincipal,
  setPrincipalStatus,
  setTerminalSipPassword,
  type PrincipalKind,
  type Refusal,
} from '../../provisioning.js';
import { errorPage } from '../errors.js';
import { field, intParam, notice, pageData, pager, view } from '../page.js';
import type { ConsoleContext } from './context.js';

const PAGE = 50;

interface Kind {
  kind: PrincipalKind;
  plural: 'terminals' | 'proxies';
  title: string;
  idLabel: string;
}

const KINDS: Kind[] = [
  { kind: 'terminal', plural: 'terminals', title: 'Terminals', idLabel: 'IDc' },
  { kind: 'proxy', plural: 'proxies', title: 'Proxies', idLabel: 'IDsp' },
];

/**
 * Terminals and proxies: list and create, and per principal rotate (a
 * generated key is shown in that one answer), disable, enable, SIP password
 * (terminals), unlock (terminals), delete.
 */
export function principalPages(app: FastifyInstance, ctx: ConsoleContext): void {
  for (const k of KINDS) kindPages(app, ctx, k);
}

function kindPages(app: FastifyInstance, ctx: ConsoleContext, k: Kind): void {
  const base = `/console/${k.plural}`;
  const repo = repoOf(ctx.store, k.kind);
  const views = async (items: Principal[]) => (k.kind === 'terminal' ? ctx.ops.terminalViews(items) : items.map((p) => principalView(p, { now: ctx.store.now() })));
  const showUrl = (id: string, done?: string) => `${base}/show?id=${encodeURIComponent(id)}${done ? `&done=${done}` : ''}`;

  const listPage = async (req: FastifyRequest, reply: FastifyReply, status = 200, problem?: string, form = { id: '', sipPassword: '' }) => {
    const prefix = field(req.query, 'prefix');
    const offset = intParam(field(req.query, 'offset'), 0, 1e9);
    const page = await repo.list(offset, PAGE, prefix || undefined);
    return view(reply.code(status), 'principals', {
      ...pageData(req, ctx.sessions, k.title, base),
      notice: notice(req.query),
      problem,
      k,
      base,
      prefix,
      form,
      items: await views(page.items),
      pager: pager(base, { prefix }, offset, PAGE, page.total),
    });
  };

  app.get(`/${k.plural}`, (req, reply) => listPage(req, reply));

  app.get(`/${k.plural}/show`, async (req, reply) => {
    const id = field(req.query, 'id', false);
    const p = id ? await repo.get(id) : undefined;
    if (!p) return errorPage(reply, 404, `${k.kind} ${JSON.stringify(id)} does not exist.`);
    const [v] = await views([p]);
    const registrations = k.kind === 'terminal' ? (await ctx.ops.registrations({ idc: id }, 0, 100)).items : [];
    return view(reply, 'principal', {
      ...pageData(req, ctx.sessions, `${k.kind === 'terminal' ? 'Terminal' : 'Proxy'} ${id}`, base),
      notice: notice(req.query),
      k,
      base,
      p: v,
      registrations,
    });
  });

  const refused = (reply: FastifyReply, r: Refusal) => errorPage(reply, r.refused, r.message);

  /** The one answer that shows a generated key. */
  const keyOnce = (req: FastifyRequest, reply: FastifyReply, status: number, what: string, p: Principal, key: Buffer) =>
    view(reply.code(status), 'key-once', { ...pageData(req, ctx.sessions, `${what}: ${p.id}`, base), k, base, id: p.id, generation: p.keyGeneration, key: key.toString('hex'), show: showUrl(p.id) });

  app.post(`/${k.plural}/create`, async (req, reply) => {
    const id = field(req.body, 'id');
    const keyHex = field(req.body, 'key');
    const sipPassword = k.kind === 'terminal' ? field(req.body, 'sipPassword', false) : '';
    const r = await createPrincipal(ctx.store, k.kind, id, { keyHex, ...(sipPassword ? { sipPassword } : {}) }, actorOf(req));
    if (isRefusal(r)) return listPage(req, reply, r.refused, r.message, { id, sipPassword: '' });
    if (r.key) return keyOnce(req, reply, 201, `${k.kind === 'terminal' ? 'Terminal' : 'Proxy'} created`, r.principal, r.key);
    return reply.redirect(showUrl(id, 'created'), 303);
  });

  app.post(`/${k.plural}/rotate`, async (req, reply) => {
    const id = field(req.body, 'id', false);
    // The form names the generation it rotates: sending it again (a reload) rotates nothing.
    const generation = field(req.body, 'generation');
    const current = await repo.get(id);
    if (!current) return errorPage(reply, 404, `${k.kind} ${JSON.stringify(id)} does not exist.`);
    if (generation !== String(current.keyGeneration)) {
      return errorPage(reply, 409, `The key of ${id} is already at generation ${current.keyGeneration}; this form was for generation ${generation || '?'}. Open the page again to rotate once more.`);
    }
    const keyHex = field(req.body, 'key');
    const r = await rotatePrincipal(ctx.store, k.kind, id, keyHex, actorOf(req));
    if (isRefusal(r)) return refused(reply, r);
    if (r.key) return keyOnce(req, reply, 200, 'New key', r.principal, r.key);
    return reply.redirect(showUrl(id, 'rotated'), 303);
  });

  for (const verb of ['disable', 'enable'] as const) {
    app.post(`/${k.plural}/${verb}`, async (req, reply) => {
      const id = field(req.body, 'id', false);
      const r = await setPrincipalStatus(ctx.store, k.kind, id, verb, actorOf(req));
      if (isRefusal(r)) return refused(reply, r);
      return reply.redirect(showUrl(id, `${verb}d`), 303);
    });
  }

  app.post(`/${k.plural}/delete`, async (req, reply) => {
    const id = field(req.body, 'id', false);
    const r = await deletePrincipal(ctx.store, k.kind, id, actorOf(req));
    if (isRefusal(r)) return refused(reply, r);
    return reply.redirect(`${base}?done=deleted`, 303);
  });

  if (k.kind === 'terminal') {
    app.post(`/${k.plural}/sip-password`, async (req, reply) => {
      const id = field(req.body, 'id', false);
      const remove = field(req.body, 'remove') === '1';
      const password = field(req.body, 'sipPassword', false);
      if (!remove && !password) return errorPage(reply, 400, 'Type a SIP password, or remove it.');
      const r = await setTerminalSipPassword(ctx.store, id, remove ? null : password, actorOf(req));
      if (isRefusal(r)) return refused(reply, r);
      return reply.redirect(showUrl(id, remove ? 'sip-removed' : 'sip-set'), 303);
    });
  }
}
