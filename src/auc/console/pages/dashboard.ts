import type { FastifyInstance } from 'fastify';
import { pageData, view } from '../page.js';
import type { ConsoleContext, RatesSource } from './context.js';
import { fragment, stream } from './fragments.js';

export interface Figure {
  label: string;
  value: number | string;
  href: string;
  /** A figure an operator should look at (locked terminals, blocked sources). */
  alert?: boolean;
}

/** Events of one followed counter over the samples kept (an hour): the sum of its increases (a reset counts from 0). */
export function increase(rates: RatesSource | undefined, name: string): number | undefined {
  const samples = rates?.samples() ?? [];
  if (samples.length < 2 || samples.every((s) => s.totals[name] === undefined)) return undefined;
  let n = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!.totals[name] ?? 0;
    const b = samples[i]!.totals[name] ?? 0;
    n += b >= a ? b - a : b;
  }
  return Math.round(n);
}

/**
 * The counters of the process's history (src/auc/metrics.ts dashboardHistory)
 * the dashboard shows, in this order, and how it names them. Others it
 * follows are left out; one the history does not follow is simply absent.
 */
export const RATE_LABELS: Record<string, string> = {
  registrations: 'Registrations',
  calls: 'Calls',
  failures: 'Auth failures',
  lockouts: 'Lockouts',
  blocked: 'Sources blocked',
};

function shownRates(rates: RatesSource | undefined): string[] {
  const have = rates?.samples().at(-1)?.totals ?? {};
  return Object.keys(RATE_LABELS).filter((n) => n in have);
}

export async function figures(ctx: ConsoleContext): Promise<Figure[]> {
  const st = ctx.store;
  const [terminals, proxies, registrations, locked, failing, blocked] = await Promise.all([
    st.terminals.list(0, 1),
    st.proxies.list(0, 1),
    ctx.ops.registrations({}, 0, 1),
    ctx.ops.failures({ locked: true }, 0, 1),
    ctx.ops.failures({}, 0, 1),
    ctx.ops.blocked(0, 1),
  ]);
  const out: Figure[] = [
    { label: 'Live registrations', value: registrations.total, href: '/console/registrations' },
    { label: 'Terminals', value: terminals.total, href: '/console/terminals' },
    { label: 'Proxies', value: proxies.total, href: '/console/proxies' },
    { label: 'Locked terminals', value: locked.total, href: '/console/failures?locked=1', alert: locked.total > 0 },
    { label: 'Terminals with failures', value: failing.total, href: '/console/failures' },
    { label: 'Blocked sources', value: blocked.total, href: '/console/blocked', alert: blocked.total > 0 },
  ];
  for (const name of shownRates(ctx.rates)) {
    const n = increase(ctx.rates, name);
    out.push({ label: `${RATE_LABELS[name]}, last hour`, value: n ?? '–', href: '/console#rates' });
  }
  return out;
}

/** The chart's data: per followed counter, events per minute at each sample time (Unix seconds). */
export function rateWindow(rates: RatesSource) {
  const points = rates.rates();
  const names = shownRates(rates);
  return {
    t: points.map((p) => Math.floor(p.at / 1000)),
    series: names.map((n) => ({ label: RATE_LABELS[n]!, values: points.map((p) => (p.perMinute[n] === undefined ? null : Math.round(p.perMinute[n]! * 100) / 100)) })),
  };
}

/** The dashboard: figures kept live over server-sent events, and the rates of the last hour (uPlot). */
export function dashboardPages(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/', async (req, reply) =>
    view(reply, 'dashboard', {
      ...pageData(req, ctx.sessions, 'Dashboard', '/console'),
      chart: Boolean(ctx.rates),
      figuresHtml: await fragment(app, 'figures', { figures: await figures(ctx) }),
    }),
  );

  app.get('/events', async (req, reply) => stream(ctx, req, reply, async () => fragment(app, 'figures', { figures: await figures(ctx) })));

  app.get('/rates.json', async (_req, reply) => {
    if (!ctx.rates) return reply.code(404).send({ error: 'no metrics in this process' });
    return rateWindow(ctx.rates);
  });
}
