import type { FastifyInstance } from 'fastify';
import type { AuditFilter } from '../../../store/audit.js';
import { field, intParam, pageData, pager, view } from '../page.js';
import type { ConsoleContext } from './context.js';

const PAGE = 50;

/** A time as operators read it everywhere in the console: ISO 8601, UTC, to the second. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A time typed by an operator, read as UTC whatever the browser's or the
 * server's zone: `2026-05-01`, `2026-05-01T10:30`, or a full ISO time with
 * its own offset. Undefined when empty; an Error when not a time.
 */
export function parseUtc(text: string): number | undefined | Error {
  if (!text) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?))?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!m) return new Error(`${JSON.stringify(text)} is not a time; write 2026-05-01 or 2026-05-01T10:30 (UTC)`);
  const t = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? 'Z'}`);
  return Number.isNaN(t) ? new Error(`${JSON.stringify(text)} is not a valid date`) : t;
}

/** The audit log, newest first, filtered by target, actor, action and a UTC time range. */
export function auditPages(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/audit', async (req, reply) => {
    const q = req.query;
    const form = { target: field(q, 'target'), actor: field(q, 'actor'), action: field(q, 'action'), since: field(q, 'since'), until: field(q, 'until') };
    const offset = intParam(field(q, 'offset'), 0, 1e9);
    const since = parseUtc(form.since);
    const until = parseUtc(form.until);
    const problem = since instanceof Error ? since.message : until instanceof Error ? until.message : undefined;
    const filter: AuditFilter = {
      ...(form.target ? { target: form.target } : {}),
      ...(form.actor ? { actor: form.actor } : {}),
      ...(form.action ? { action: form.action } : {}),
      ...(typeof since === 'number' ? { since } : {}),
      ...(typeof until === 'number' ? { until } : {}),
    };
    const page = problem ? { items: [], total: 0, offset, limit: PAGE } : await ctx.ops.audit(filter, offset, PAGE);
    const entries = page.items.map((e) => ({ ...e, at: isoSeconds(e.at), detail: Object.keys(e.detail).length ? JSON.stringify(e.detail) : '' }));
    return view(reply.code(problem ? 400 : 200), 'audit', {
      ...pageData(req, ctx.sessions, 'Audit', '/console/audit'),
      problem,
      form,
      entries,
      pager: pager('/console/audit', form, offset, PAGE, page.total),
    });
  });
}
