/**
 * The AuC's Prometheus metrics (docs/metrics.md): every request its RADIUS
 * and Diameter servers hand to the core, timed and counted by link,
 * operation and result; refusals by reason; failure reports and the
 * lockouts they cause; and the provisioning API's requests.
 */
import type { FastifyInstance } from 'fastify';
import type { AucService } from '../contracts/auc.js';
import { MetricsHistory, type Counter, type Histogram, type MetricsRegistry } from '../metrics/index.js';

export type AucLink = 'radius' | 'diameter';

export interface AucMetrics {
  requests: Counter;
  duration: Histogram;
  refusals: Counter;
  failures: Counter;
  lockouts: Counter;
  apiRequests: Counter;
  apiDuration: Histogram;
}

export function aucMetrics(r: MetricsRegistry): AucMetrics {
  const p = 'keyswitch_auc_';
  return {
    requests: r.counter(p + 'requests_total', 'Requests the AuC answered over RADIUS or Diameter, by link, operation (vector, digest, registered, deregistered, failed) and result (ok; refused: an identity refused; error: no answer, e.g. a report naming no challenge of its sender).', { labelNames: ['link', 'op', 'result'] }),
    duration: r.histogram(p + 'request_duration_seconds', 'Time the AuC core took to answer one request (store included), by link and operation.', { labelNames: ['link', 'op'] }),
    refusals: r.counter(p + 'refusals_total', 'Identities the AuC refused a vector or an HA1, by link and reason (unknown-terminal, unknown-proxy, disabled, locked, no-sip-password).', { labelNames: ['link', 'reason'] }),
    failures: r.counter(p + 'auth_failures_total', 'Failed authentications reported to the AuC (s9 failures, wrong Digest responses), by link; each counts toward a lockout.', { labelNames: ['link'] }),
    lockouts: r.counter(p + 'lockouts_total', 'Failure reports answered with the identity locked, by link.', { labelNames: ['link'] }),
    apiRequests: r.counter(p + 'api_requests_total', 'Provisioning API (and console) requests, by method, route template and status class.', { labelNames: ['method', 'route', 'status_class'], maxSeries: 2000 }),
    apiDuration: r.histogram(p + 'api_request_duration_seconds', 'Provisioning API (and console) request handling time, by method and route template.', { labelNames: ['method', 'route'], maxSeries: 2000 }),
  };
}

const OPS = ['vector', 'digest', 'registered', 'deregistered', 'failed'] as const;

/** The core as one wire server sees it: each call timed and counted; the requester passes through. */
export function observeAucService(service: AucService, link: AucLink, m: AucMetrics): AucService {
  const timed = <A, R>(op: (typeof OPS)[number], call: (a: A, from?: string) => Promise<R>, result: (v: R) => string = () => 'ok') => {
    // the label sets of this operation, made once (not objects per request)
    const byOp = { link, op };
    const byResult = new Map(['ok', 'refused', 'error'].map((r) => [r, { link, op, result: r }]));
    const labelsOf = (r: string) => byResult.get(r) ?? { link, op, result: r };
    return async (a: A, from?: string): Promise<R> => {
      const end = m.duration.startTimer();
      try {
        const v = await call(a, from);
        m.requests.inc(labelsOf(result(v)));
        return v;
      } catch (err) {
        m.requests.inc(labelsOf('error'));
        throw err;
      } finally {
        end(byOp);
      }
    };
  };
  const refused = (v: { ok: boolean; reason?: string }): string => {
    if (v.ok) return 'ok';
    m.refusals.inc({ link, reason: v.reason ?? 'other' });
    return 'refused';
  };
  return {
    vector: timed('vector', (r, from) => service.vector(r, from), refused),
    digest: timed('digest', (r, from) => service.digest(r, from), refused),
    registered: timed('registered', (r, from) => service.registered(r, from)),
    deregistered: timed('deregistered', (r, from) => service.deregistered(r, from)),
    failed: timed('failed', (r, from) => service.failed(r, from), (outcome) => {
      m.failures.inc({ link });
      if (outcome.locked) m.lockouts.inc({ link });
      return 'ok';
    }),
  };
}

/** Counts and times every API request by its route template (never the raw URL: ids would make unbounded series). */
export function observeApi(app: FastifyInstance, m: AucMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const method = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].includes(req.method) ? req.method : 'other';
    m.apiRequests.inc({ method, route, status_class: `${Math.floor(reply.statusCode / 100)}xx` });
    m.apiDuration.observe({ method, route }, reply.elapsedTime / 1000);
  });
}

/**
 * The counters the web console's dashboard draws as rates over the last hour
 * (docs/metrics.md, "For the web console"); a role not in the process counts 0.
 */
export function dashboardHistory(r: Pick<MetricsRegistry, 'total'>): MetricsHistory {
  return new MetricsHistory(r, {
    follow: [
      { name: 'keyswitch_softswitch_registrations_total', as: 'registrations', where: {} },
      { name: 'keyswitch_softswitch_calls_attempted_total', as: 'calls', where: {} },
      { name: 'keyswitch_softswitch_calls_answered_total', as: 'answered', where: {} },
      { name: 'keyswitch_auc_auth_failures_total', as: 'failures', where: {} },
      { name: 'keyswitch_auc_lockouts_total', as: 'lockouts', where: {} },
      { name: 'keyswitch_sbc_auth_failures_total', as: 'sbcFailures', where: {} },
      { name: 'keyswitch_sbc_sources_blocked_total', as: 'blocked', where: {} },
    ],
  });
}
