/**
 * The softswitch's Prometheus metrics (docs/metrics.md lists them all).
 *
 * Registrations are counted where they become facts: each s11 report to the
 * AuC (a new binding, by protocol and by how it was authenticated) through
 * `observeAuc`, and each refresh accepted without a challenge from the
 * registrar's own counters (`syncRegister`, run before every scrape).
 * Authentication failures of SIP come from the same counters; those of MGCP
 * and H.248 from their s9 failure reports (`observeAuc` with the protocol).
 * Calls are counted by the call router. The AuC link (RADIUS or Diameter) is
 * timed below the bound the softswitch puts on it (`observeAucLink`).
 */
import type { AucService } from '../contracts/auc.js';
import { CALL_SETUP_BUCKETS, MetricsRegistry, startMetricsServer, type Counter, type Gauge, type Histogram, type MetricsServer } from '../metrics/index.js';
import type { AucClient } from './auc-client.js';

const MECHANISMS = new Set(['tls-psk', 'app-hmac', 'tls']);
const PROTOCOLS = new Set(['sip', 'mgcp', 'h248', 'h323']);
const OPS = ['vector', 'digest', 'registered', 'deregistered', 'failed'] as const;

/** How a registration request was answered (docs/metrics.md). */
export type RegistrationResult = 'accepted' | 'challenged' | 'refused' | 'unavailable';

/** A SIP REGISTER's final status as a RegistrationResult. */
export function registerResult(status: number): RegistrationResult {
  if (status < 300) return 'accepted';
  if (status === 401 || status === 407 || status === 494) return 'challenged';
  if (status >= 500 && status < 600) return 'unavailable';
  return 'refused';
}

/** An INVITE's first answer that ends post-dial delay, as a label. */
export function callSetupResult(status: number): 'ringing' | 'answered' | 'challenged' | 'failed' {
  if (status === 401 || status === 407) return 'challenged';
  return status < 200 ? 'ringing' : status < 300 ? 'answered' : 'failed';
}

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
  readonly lockouts: Counter;
  readonly registerDuration: Histogram;
  readonly callSetup: Histogram;
  readonly aucDuration: Histogram;
  readonly aucErrors: Counter;
  #last: RegisterCounters = { registers: 0, digestFailures: 0, ks1Failures: 0, refreshesWithoutChallenge: 0 };

  constructor(registry = new MetricsRegistry()) {
    this.registry = registry;
    const p = 'keyswitch_softswitch_';
    this.registerRequests = registry.counter(p + 'register_requests_total', 'REGISTER requests received by the registrar.');
    this.registrations = registry.counter(p + 'registrations_total', 'Registrations accepted: bindings reported to the AuC (s11) and refreshes whose report was spared (docs/auc.md, "Refresh reports"), by protocol and authentication, and refreshes proved by a mechanism (auth="refresh").', { labelNames: ['protocol', 'auth'] });
    this.authFailures = registry.counter(p + 'auth_failures_total', 'Failed authentications (wrong Digest response, wrong KS1 authenticator or refused KS1 s1).', { labelNames: ['protocol', 'kind'] });
    this.authRefusals = registry.counter(p + 'auth_refusals_total', 'AuC refusals of an identity (unknown, disabled, locked, no SIP password; unknown SBC), by reason. The terminal is answered as for a wrong credential; the reason is only here and in the log.', { labelNames: ['reason'] });
    this.callsAttempted = registry.counter(p + 'calls_attempted_total', 'New INVITEs (outside a dialog) taken for routing.');
    this.callsAnswered = registry.counter(p + 'calls_answered_total', 'New INVITEs answered with 2xx.');
    this.callsFailed = registry.counter(p + 'calls_failed_total', 'New INVITEs answered with a final error, by status class (487 for cancelled calls is 4xx).', { labelNames: ['status_class'] });
    this.requestsRouted = registry.counter(p + 'requests_routed_total', 'Requests routed by the proxy, by method and whether inside a dialog.', { labelNames: ['method', 'dialog'] });
    this.locationLookups = registry.counter(p + 'location_lookups_total', 'Location lookups for out-of-dialog requests, answered from memory (hit) or the store (miss).', { labelNames: ['result'] });
    this.activeTransactions = registry.gauge(p + 'sip_transactions', 'SIP transactions held by the stack.', { labelNames: ['kind'] });
    this.lockouts = registry.counter(p + 'lockouts_total', 'Failed authentications the AuC answered with a lockout of the identity, by protocol.', { labelNames: ['protocol'] });
    this.registerDuration = registry.histogram(p + 'register_duration_seconds', 'Time to answer one registration request (SIP REGISTER; MGCP RSIP and NTFY, H.248 ServiceChange and Notify carrying KS1), AuC round trips included, by protocol and result (accepted, challenged, refused, unavailable).', { labelNames: ['protocol', 'result'] });
    this.callSetup = registry.histogram(p + 'call_setup_seconds', 'Post-dial delay: from a new INVITE to its first 180/183 or final answer, by result (ringing, answered, failed; challenged: a 401/407 asking a Digest caller for credentials).', { labelNames: ['result'], buckets: CALL_SETUP_BUCKETS });
    this.aucDuration = registry.histogram(p + 'auc_request_duration_seconds', 'Round trip of one request to the AuC over its link (radius, diameter), failover and retransmissions included, by operation and result (ok: answered; error: no usable answer).', { labelNames: ['link', 'op', 'result'] });
    this.aucErrors = registry.counter(p + 'auc_errors_total', 'Requests to the AuC that got no usable answer, by link, operation and error (unavailable: no peer answered in time; protocol: an answer this client cannot use; refused: the AuC refused the report; other).', { labelNames: ['link', 'op', 'error'] });
  }

  /**
   * Wraps the AuC for one protocol's registrar: each s11 report counts a
   * registration, each failure report answered with a lockout counts one,
   * and for MGCP, H.248 and H.323 each failure report counts an authentication
   * failure (SIP's come from the registrar's counters: `syncRegister`).
   */
  observeAuc(auc: AucService, protocol: 'sip' | 'mgcp' | 'h248' | 'h323' = 'sip'): AucService {
    return {
      vector: (r) => auc.vector(r).then((v) => this.#refusal(v)),
      digest: (r) => auc.digest(r).then((v) => this.#refusal(v)),
      registered: (r) => {
        this.registrationAccepted(r.protocol, r.mechanism);
        return auc.registered(r);
      },
      deregistered: (r) => auc.deregistered(r),
      failed: async (r) => {
        if (protocol !== 'sip') this.authFailures.inc({ protocol, kind: 'ks1' });
        const outcome = await auc.failed(r);
        if (outcome.locked) this.lockouts.inc({ protocol });
        return outcome;
      },
    };
  }

  /** A registration accepted: reported to the AuC (observeAuc), or a refresh whose report was spared. */
  registrationAccepted(protocol: string, mechanism: string): void {
    const proto = PROTOCOLS.has(protocol) ? protocol : 'other';
    const auth = mechanism === '' ? 'digest' : MECHANISMS.has(mechanism) ? 'ks1-' + mechanism : 'ks1-other';
    this.registrations.inc({ protocol: proto, auth });
  }

  /** A registration request answered after `seconds`. */
  registrationStep(protocol: 'sip' | 'mgcp' | 'h248' | 'h323', result: RegistrationResult, seconds: number): void {
    this.registerDuration.observe({ protocol, result }, seconds);
  }

  /**
   * Times every request to the AuC over its link and counts those that get
   * no usable answer. Wraps the raw client, under the softswitch's own bound,
   * so the figure is the link's; `close` and `stats` pass through.
   */
  observeAucLink<T extends AucClient>(client: T, link: 'radius' | 'diameter'): T {
    const timed = <A, R>(op: (typeof OPS)[number], call: (a: A) => Promise<R>) =>
      async (a: A): Promise<R> => {
        const end = this.aucDuration.startTimer();
        try {
          const v = await call(a);
          end({ link, op, result: 'ok' });
          return v;
        } catch (err) {
          end({ link, op, result: 'error' });
          this.aucErrors.inc({ link, op, error: aucErrorKind(err) });
          throw err;
        }
      };
    const wrapped: AucClient = {
      vector: timed('vector', (r: Parameters<AucService['vector']>[0]) => client.vector(r)),
      digest: timed('digest', (r: Parameters<AucService['digest']>[0]) => client.digest(r)),
      registered: timed('registered', (r: Parameters<AucService['registered']>[0]) => client.registered(r)),
      deregistered: timed('deregistered', (r: Parameters<AucService['deregistered']>[0]) => client.deregistered(r)),
      failed: timed('failed', (r: Parameters<AucService['failed']>[0]) => client.failed(r)),
      close: () => client.close(),
    };
    return new Proxy(client, {
      get(target, prop) {
        if (prop in wrapped) return wrapped[prop as keyof AucClient];
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Counters of the RADIUS client's transport (retransmissions, failovers...), pulled before each scrape. */
  followRadiusTransport(stats: () => { retransmissions: number; failovers: number; timeouts: number; droppedInvalidAnswer: number; droppedStrayAnswer: number }): void {
    const events = this.registry.counter('keyswitch_softswitch_auc_radius_events_total', 'RADIUS client events toward the AuC: retransmission, failover (next peer), timeout (no answer from a peer), invalid-answer (bad authenticator or Message-Authenticator, dropped), stray-answer (matches no request, dropped).', { labelNames: ['event'] });
    this.registry.follow(events, 'event', () => {
      const n = stats();
      return { retransmission: n.retransmissions, failover: n.failovers, timeout: n.timeouts, 'invalid-answer': n.droppedInvalidAnswer, 'stray-answer': n.droppedStrayAnswer };
    }, { keys: ['retransmission', 'failover', 'timeout', 'invalid-answer', 'stray-answer'] });
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

function aucErrorKind(err: unknown): string {
  switch ((err as Error | undefined)?.name) {
    case 'AucUnavailableError':
      return 'unavailable';
    case 'AucProtocolError':
      return 'protocol';
    case 'ReportRefusedError':
      return 'refused';
    default:
      return 'other';
  }
}

export type MetricsEndpoint = MetricsServer;

/** `GET /metrics`; `beforeRender` brings the registrar's pulled counters up to date. */
export function serveSoftswitchMetrics(registry: MetricsRegistry, o: { host: string; port: number; beforeRender?: () => void }): Promise<MetricsEndpoint> {
  return startMetricsServer(registry, o);
}
