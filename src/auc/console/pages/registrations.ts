import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorOf } from '../../api/auth.js';
import type { RegistrationFilter } from '../../../store/registrations.js';
import { errorPage } from '../errors.js';
import { field, intParam, notice, pageData, pager, view } from '../page.js';
import type { ConsoleContext } from './context.js';
import { fragment, stream } from './fragments.js';

const PAGE = 50;
const FILTERS = ['prefix', 'protocol', 'idsp', 'mechanism', 'ipc'] as const;

function query(req: FastifyRequest) {
  const form = Object.fromEntries(FILTERS.map((k) => [k, field(req.query, k)])) as Record<(typeof FILTERS)[number], string>;
  const filter: RegistrationFilter = {};
  for (const k of FILTERS) if (form[k]) filter[k] = form[k];
  return { form, filter, offset: intParam(field(req.query, 'offset'), 0, 1e9) };
}

/** Live registrations (filtered, paged, refreshed over server-sent events) and de-registration. */
export function registrationPages(app: FastifyInstance, ctx: ConsoleContext): void {
  const rows = async (req: FastifyRequest) => {
    const { form, filter, offset } = query(req);
    const page = await ctx.ops.registrations(filter, offset, PAGE);
    const s = req.consoleSession!;
    return fragment(app, 'registrations-rows', { items: page.items, admin: s.role === 'admin', csrf: s.csrf, pager: pager('/console/registrations', form, offset, PAGE, page.total) });
  };

  app.get('/registrations', async (req, reply) => {
    const { form } = query(req);
    const qs = new URLSearchParams(req.url.split('?')[1] ?? '').toString();
    return view(reply, 'registrations', {
      ...pageData(req, ctx.sessions, 'Live registrations', '/console/registrations'),
      notice: notice(req.query),
      form,
      live: `/console/registrations/events${qs ? `?${qs}` : ''}`,
      rowsHtml: await rows(req),
    });
  });

  app.get('/registrations/events', async (req, reply) => stream(ctx, req, reply, () => rows(req)));

  app.post('/registrations/deregister', async (req, reply) => {
    const idc = field(req.body, 'idc');
    const protocol = field(req.body, 'protocol');
    const contact = field(req.body, 'contact', false);
    if (!idc) return errorPage(reply, 400, 'Which terminal? The form named none.');
    const r = await ctx.ops.deregister(idc, { ...(protocol ? { protocol } : {}), ...(contact ? { contact } : {}) }, actorOf(req));
    if (!r) return errorPage(reply, 404, `No live registration of ${JSON.stringify(idc)} to remove.`);
    return reply.redirect('/console/registrations?done=deregistered', 303);
  });
}
