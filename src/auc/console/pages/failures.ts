import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorOf } from '../../api/auth.js';
import { sourceProblem } from '../../operations.js';
import { errorPage } from '../errors.js';
import { field, intParam, notice, pageData, pager, view } from '../page.js';
import type { ConsoleContext } from './context.js';
import { fragment, stream } from './fragments.js';

const PAGE = 50;

/** Back to the page the form was on (a fixed list), with a notice. */
function back(from: string, done: string): string {
  const to = from === 'terminal' ? '/console/terminals' : from === 'blocked' ? '/console/blocked' : '/console/failures';
  return `${to}?done=${done}`;
}

/**
 * Failures and lockouts per terminal with unlock; failures per source at
 * the SBCs; blocked sources with unblock. Live over server-sent events.
 */
export function failurePages(app: FastifyInstance, ctx: ConsoleContext): void {
  const failureRows = async (req: FastifyRequest) => {
    const form = { prefix: field(req.query, 'prefix'), locked: field(req.query, 'locked') === '1' ? '1' : '' };
    const offset = intParam(field(req.query, 'offset'), 0, 1e9);
    const [page, sources] = await Promise.all([
      ctx.ops.failures({ ...(form.locked ? { locked: true } : {}), ...(form.prefix ? { prefix: form.prefix } : {}) }, offset, PAGE),
      ctx.ops.sourceFailures(0, PAGE),
    ]);
    const s = req.consoleSession!;
    return {
      form,
      html: await fragment(app, 'failures-rows', { items: page.items, sources: sources.items, sourcesTotal: sources.total, admin: s.role === 'admin', csrf: s.csrf, pager: pager('/console/failures', form, offset, PAGE, page.total) }),
    };
  };

  app.get('/failures', async (req, reply) => {
    const { form, html } = await failureRows(req);
    const qs = new URLSearchParams(req.url.split('?')[1] ?? '').toString();
    return view(reply, 'failures', {
      ...pageData(req, ctx.sessions, 'Failures and lockouts', '/console/failures'),
      notice: notice(req.query),
      form,
      live: `/console/failures/events${qs ? `?${qs}` : ''}`,
      rowsHtml: html,
    });
  });
  app.get('/failures/events', async (req, reply) => stream(ctx, req, reply, async () => (await failureRows(req)).html));

  app.post('/failures/unlock', async (req, reply) => {
    const idc = field(req.body, 'idc');
    if (!idc) return errorPage(reply, 400, 'Which terminal? The form named none.');
    const v = await ctx.ops.unlock(idc, actorOf(req));
    if (!v) return errorPage(reply, 404, `Terminal ${JSON.stringify(idc)} does not exist.`);
    if (field(req.body, 'from') === 'terminal') return reply.redirect(`/console/terminals/show?id=${encodeURIComponent(idc)}&done=unlocked`, 303);
    return reply.redirect(back('failures', 'unlocked'), 303);
  });

  const blockedRows = async (req: FastifyRequest) => {
    const offset = intParam(field(req.query, 'offset'), 0, 1e9);
    const page = await ctx.ops.blocked(offset, PAGE);
    const s = req.consoleSession!;
    return fragment(app, 'blocked-rows', { items: page.items, admin: s.role === 'admin', csrf: s.csrf, pager: pager('/console/blocked', {}, offset, PAGE, page.total) });
  };

  app.get('/blocked', async (req, reply) => {
    const qs = new URLSearchParams(req.url.split('?')[1] ?? '').toString();
    return view(reply, 'blocked', {
      ...pageData(req, ctx.sessions, 'Blocked sources', '/console/blocked'),
      notice: notice(req.query),
      live: `/console/blocked/events${qs ? `?${qs}` : ''}`,
      rowsHtml: await blockedRows(req),
    });
  });
  app.get('/blocked/events', async (req, reply) => stream(ctx, req, reply, () => blockedRows(req)));

  app.post('/blocked/unblock', async (req, reply) => {
    const source = field(req.body, 'source');
    const problem = sourceProblem(source);
    if (problem) return errorPage(reply, 400, problem);
    await ctx.ops.unblock(source, actorOf(req));
    return reply.redirect(back(field(req.body, 'from') === 'failures' ? 'failures' : 'blocked', 'unblocked'), 303);
  });
}
