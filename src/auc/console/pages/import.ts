import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorOf } from '../../api/auth.js';
import { importTerminalsCsv } from '../../import.js';
import { errorPage } from '../errors.js';
import { ImportJobs } from '../import-jobs.js';
import { field, pageData, view } from '../page.js';
import type { ConsoleContext } from './context.js';
import { fragment, stream } from './fragments.js';

/**
 * Bulk import of terminals (CSV `idc,key,sip_password`, as the API and the
 * CLI take it, through the same importTerminalsCsv): run in the background,
 * its progress live, then a report per line; generated keys shown once.
 */
export function importPages(app: FastifyInstance, ctx: ConsoleContext): void {
  const jobs = new ImportJobs(ctx.store.now);
  const owner = (req: FastifyRequest) => req.consoleSession!.csrf;

  app.get('/import', async (req, reply) => view(reply, 'import', { ...pageData(req, ctx.sessions, 'Bulk import of terminals', '/console/import') }));

  app.post('/import', async (req, reply) => {
    const csv = field(req.body, 'csv', false);
    if (!csv.trim()) return errorPage(reply, 400, 'The CSV is empty: paste it or choose a file.');
    const actor = actorOf(req);
    const job = jobs.start(
      owner(req),
      (onProgress) => importTerminalsCsv(ctx.store, csv, { actor, onProgress }),
      (err) => req.log.error({ err: { name: err.name, code: (err as { code?: string }).code } }, 'console import failed'),
    );
    return reply.redirect(`/console/import/job?id=${job.id}`, 303);
  });

  const progress = (req: FastifyRequest) => {
    const job = jobs.get(field(req.query, 'id'), owner(req));
    return job;
  };

  app.get('/import/job', async (req, reply) => {
    const job = progress(req);
    if (!job) return errorPage(reply, 404, 'No such import in this session.');
    const shown = jobs.reveal(job);
    return view(reply, 'import-job', {
      ...pageData(req, ctx.sessions, 'Bulk import of terminals', '/console/import'),
      job,
      shown,
      problem: job.failed,
      live: `/console/import/job/events?id=${job.id}`,
      progressHtml: await fragment(app, 'import-progress', { job }),
    });
  });

  // Progress until the import ends; then `end`, and the page reloads to show the report.
  app.get('/import/job/events', async (req, reply) => {
    const job = progress(req);
    if (!job) return reply.code(404).send('no such import');
    return stream(ctx, req, reply, async () => (job.report || job.failed ? null : fragment(app, 'import-progress', { job })));
  });
}
