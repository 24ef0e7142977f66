/**
 * The softswitch's Prometheus counters and its `/metrics` endpoint.
 *
 * Registrations are counted where they become facts: each s11 report to the
 * AuC (a new binding, by protocol and by how it was authenticated) through
 * `observeAuc`, and each refresh accepted without a challenge from the
 * registrar's own counters (`syncRegister`, run before every scrape).
 * Authentication failures come from the same counters. Calls are counted by
 * the call router.
 */
import type { AucService } from '../auc/service.js';
import { MetricsRegistry, startMetricsServer, type Counter, type Gauge, type MetricsServer } from '../metrics/index.js';

const MECHANISMS = new Set(['tls-psk', 'app-hmac', 'tls']);
const PROTOCOLS = new Set(['sip', 'mgcp', 'h248', 'h323']);
const METHODS = new Set(['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'MESSAGE', 'UPDATE', 'INFO', 'PRACK', 'REFER', 'SUBSCRIBE', 'NOTIFY']);

/** The registrar counters this module reads (a subset of SoftswitchSipStats). */
export interface RegisterCounters {
  registers: number;
  digestFailures: number;
  ks1Failures: number;
  refreshesWithoutChallenge: number;
}

export class SoftswitchMetrics {
  readonly registry: MetricsRegistry;
  readonly registerRequests: Counter;
  readonly registrations: Counter;
  readonly authFailures: Counter;
  readonly authRefusals: Counter;
  readonly callsAttempted: Counter;
  readonly callsAnswered: Counter;
  readonly callsFailed: Counter;
  readonly requestsRouted: Counter;
  readonly locationLookups: Counter;
  readonly activeTransactions: Gauge;
  #last: RegisterCounters = { registers: 0, digestFailures: 0, ks1Failures: 0, refreshesWithoutChallenge: 0 };

  constructor(registry = new MetricsRegistry()) {
    this.registry = registry;
    const p = 'keyswitch_softswitch_';
    this.registerRequests = registry.counter(p + 'register_requests_total', 'REGISTER requests received by the registrar.');
    this.registrations = registry.counter(p + 'registrations_total', 'Registrations accepted: new bindings reported to the AuC (s11) by protocol and authentication, and refreshes proved by a mechanism (auth="refresh").', { labelNames: ['protocol', 'auth'] });
    this.authFailures = registry.counter(p + 'auth_failures_total', 'Failed authentications (wrong Digest response, wrong KS1 authenticator or refused KS1 s1).', { labelNames: ['protocol', 'kind'] });
    this.authRefusals = registry.counter(p + 'auth_refusals_total', 'AuC refusals of an identity (unknown, disabled, locked, no SIP password; unknown SBC), by reason. The terminal is answered as for a wrong credential; the reason is only here and in the log.', { labelNames: ['reason'] });
    this.callsAttempted = registry.counter(p + 'calls_attempted_total', 'New INVITEs (outside a dialog) taken for routing.');
    this.callsAnswered = registry.counter(p + 'calls_answered_total', 'New INVITEs answered with 2xx.');
    this.callsFailed = registry.counter(p + 'calls_failed_total', 'New INVITEs answered with a final error, by status class (487 for cancelled calls is 4xx).', { labelNames: ['status_class'] });
    this.requestsRouted = registry.counter(p + 'requests_routed_total', 'Requests routed by the proxy, by method and whether inside a dialog.', { labelNames: ['method', 'dialog'] });
    this.locationLookups = registry.counter(p + 'location_lookups_total', 'Location lookups for out-of-dialog requests, answered from memory (hit) or the store (miss).', { labelNames: ['result'] });
    this.activeTransactions = registry.gauge(p + 'sip_transactions', 'SIP transactions held by the stack.', { labelNames: ['kind'] });
  }

  /** Wraps the AuC so each s11 report counts a registration; everything else passes through. */
  observeAuc(auc: AucService): AucService {
    return {
      vector: (r) => auc.vector(r).then((v) => this.#refusal(v)),
      digest: (r) => auc.digest(r).then((v) => this.#refusal(v)),
      registered: (r) => {
        const protocol = PROTOCOLS.has(r.protocol) ? r.protocol : 'other';
        const auth = r.mechanism === '' ? 'digest' : MECHANISMS.has(r.mechanism) ? 'ks1-' + r.mechanism : 'ks1-other';
        this.registrations.inc({ protocol, auth });
        return auc.registered(r);
      },
      deregistered: (r) => auc.deregistered(r),
      failed: (r) => auc.failed(r),
    };
  }

  #refusal<T extends { ok: boolean; reason?: string }>(v: T): T {
    if (!v.ok && v.reason) this.authRefusals.inc({ reason: v.reason });
    return v;
  }

  /** Moves the counters by what the SIP registrar counted since the last call. */
  syncRegister(now: RegisterCounters): void {
    const d = (k: keyof RegisterCounters): number => Math.max(0, now[k] - this.#last[k]);
    if (d('registers')) this.registerRequests.inc(undefined, d('registers'));
    if (d('digestFailures')) this.authFailures.inc({ protocol: 'sip', kind: 'digest' }, d('digestFailures'));
    if (d('ks1Failures')) this.authFailures.inc({ protocol: 'sip', kind: 'ks1' }, d('ks1Failures'));
    if (d('refreshesWithoutChallenge')) this.registrations.inc({ protocol: 'sip', auth: 'refresh' }, d('refreshesWithoutChallenge'));
    this.#last = { registers: now.registers, digestFailures: now.digestFailures, ks1Failures: now.ks1Failures, refreshesWithoutChallenge: now.refreshesWithoutChallenge };
  }

  routed(method: string, inDialog: boolean): void {
    this.requestsRouted.inc({ method: METHODS.has(method) ? method : 'other', dialog: inDialog ? 'yes' : 'no' });
  }

  callFinished(status: number): void {
    if (status >= 200 && status < 300) this.callsAnswered.inc();
    else if (status >= 300) this.callsFailed.inc({ status_class: `${Math.floor(status / 100)}xx` });
  }
}

export type MetricsEndpoint = MetricsServer;

/** `GET /metrics`; `beforeRender` brings the registrar's pulled counters up to date. */
export function serveSoftswitchMetrics(registry: MetricsRegistry, o: { host: string; port: number; beforeRender?: () => void }): Promise<MetricsEndpoint> {
  return startMetricsServer(registry, o);
}
