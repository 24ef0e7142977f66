/** The SBC's Prometheus counters (registrations, authentication failures, calls); signing metrics live in signing/metrics.ts. */
import type { Counter, Gauge, MetricsRegistry } from '../metrics/registry.js';
import type { FailureKind } from './sip-failures.js';

export const SBC_METRICS = {
  registrations: 'keyswitch_sbc_registrations_total',
  authFailures: 'keyswitch_sbc_auth_failures_total',
  calls: 'keyswitch_sbc_calls_total',
  activeCalls: 'keyswitch_sbc_active_calls',
  registered: 'keyswitch_sbc_registered_terminals',
} as const;

export interface SbcMetrics {
  registrations: Counter;
  authFailures: Counter;
  /** leg: from-terminal / to-terminal; result: answered, failed, cancelled */
  calls: Counter;
  activeCalls: Gauge;
  registered: Gauge;
  authFailure(kind: FailureKind): void;
}

export function sbcMetrics(r: MetricsRegistry, sizes: { dialogs: () => number; sessions: () => number }): SbcMetrics {
  const authFailures = r.counter(SBC_METRICS.authFailures, 'Messages from the untrusted side refused for authentication (KS1, app-hmac, transport binding)', { labelNames: ['kind'] });
  return {
    registrations: r.counter(SBC_METRICS.registrations, 'Successful SIP registrations (KS1 s10 and refreshes)', { labelNames: ['kind'] }),
    authFailures,
    calls: r.counter(SBC_METRICS.calls, 'Dialog-forming INVITEs by leg (from-terminal, to-terminal) and outcome', { labelNames: ['leg', 'result'] }),
    activeCalls: r.gauge(SBC_METRICS.activeCalls, 'Dialogs the SBC carries now').onCollect((g) => g.set(sizes.dialogs())),
    registered: r.gauge(SBC_METRICS.registered, 'Terminals with a live registration through this SBC').onCollect((g) => g.set(sizes.sessions())),
    authFailure: (kind) => authFailures.inc({ kind }),
  };
}
