/** The SBC's Prometheus counters (registrations, authentication failures, calls); signing metrics live in signing/metrics.ts. */
import type { Counter, Gauge, MetricsRegistry } from '../metrics/registry.js';
import type { FailureKind } from './sip-failures.js';
import { SessionTable, type RegisteredTerminal } from './sessions.js';

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

/**
 * The session table that counts each registration it takes, by protocol:
 * SIP, MGCP and H.248 all end in `accept` (a session key Kc,sp taken), so one
 * counter covers every protocol the SBC relays.
 */
export class CountedSessionTable extends SessionTable {
  readonly #onAccept: (protocol: RegisteredTerminal['protocol']) => void;

  constructor(onAccept: (protocol: RegisteredTerminal['protocol']) => void, now?: () => number) {
    super(now);
    this.#onAccept = onAccept;
  }

  override accept(...a: Parameters<SessionTable['accept']>): RegisteredTerminal {
    const rec = super.accept(...a);
    this.#onAccept(a[1]);
    return rec;
  }
}

/** Counters the gateway relays keep themselves, read before each scrape. */
export interface GatewayRelayCounters {
  refused: number;
  rechallenged: number;
  /** New registrations refused because the SBC was overloaded (maxCorePending, or the gate's share). */
  shed: number;
  /** The share of new registrations the relay's gate refuses now, 0…1. */
  refusedShare: number;
  /** Messages of registered gateways refused by their authentication (MGCP app-hmac, H.248 Annex B), by verdict. */
  rejected: Record<string, number>;
  /** The gateway socket's transport: the SBC's requests sent again, gateways' requests received again, the timer now. */
  transport: { resent: number; duplicates: number; rtoMs: number };
}

/**
 * `keyswitch_sbc_sessions_total{protocol}` (registrations that ended in a
 * session) and `keyswitch_sbc_gateway_auth_failures_total{protocol,kind}`
 * pulled from the MGCP and H.248 relays' own counters.
 */
export function sbcProtocolMetrics(r: MetricsRegistry): { sessions: CountedSessionTable; followRelay(protocol: 'mgcp' | 'h248', read: () => GatewayRelayCounters): void } {
  const accepted = r.counter('keyswitch_sbc_sessions_total', 'Registrations completed through this SBC (a session key taken into its session table), by protocol (sip, mgcp, h248).', { labelNames: ['protocol'] });
  const share = r.gauge('keyswitch_sbc_gateway_refused_share', 'The share (0 to 1) of gateways\' new registrations the SBC refuses now because a datagram waited overload.sbcGatewayWaitMs or more in its gateway socket, by protocol (mgcp, h248).', { labelNames: ['protocol'] });
  const rto = r.gauge('keyswitch_sbc_gateway_retransmission_timer_seconds', 'The first retransmission interval of the SBC\'s requests to gateways now, by protocol: 0.2 s, or longer while gateways\' answers are measured late (H.248.1 Annex D, RFC 3435 section 4.3).', { labelNames: ['protocol'] });
  const relays = new Map<string, () => GatewayRelayCounters>();
  share.onCollect((g) => {
    for (const [protocol, read] of relays) g.set(read().refusedShare, { protocol });
  });
  rto.onCollect((g) => {
    for (const [protocol, read] of relays) g.set(read().transport.rtoMs / 1000, { protocol });
  });
  const retransmissions = r.counter('keyswitch_sbc_gateway_retransmissions_total', 'Retransmissions on the SBC\'s gateway socket, by protocol and direction: sent (a request of the SBC\'s to a gateway sent again, no answer having come in time) or received (a gateway\'s request that came again, answered from the reply cache or with Pending/100, never run twice). Many of either at once is a retransmission storm.', { labelNames: ['protocol', 'direction'] });
  const failures = r.counter('keyswitch_sbc_gateway_auth_failures_total', 'MGCP and H.248 gateway messages refused by the SBC, by protocol and kind: refused (a registration step the flow refused), rechallenged (a wrong response, answered with a new challenge), overloaded (a new registration refused while the queue toward the softswitch was full, or as the share refused while the gateway socket was slow: H.248 503, MGCP 409), or the verdict of the per-message authentication (MGCP app-hmac, H.248 Annex B: missing, bad-tag, replayed, too-old, wrong-spi).', { labelNames: ['protocol', 'kind'] });
  return {
    sessions: new CountedSessionTable((protocol) => accepted.inc({ protocol })),
    followRelay(protocol, read) {
      relays.set(protocol, read);
      r.follow(failures, 'kind', () => {
        const c = read();
        return { refused: c.refused, rechallenged: c.rechallenged, overloaded: c.shed, ...c.rejected };
      }, { keys: ['refused', 'rechallenged', 'overloaded'], labels: { protocol } });
      r.follow(retransmissions, 'direction', () => {
        const t = read().transport;
        return { sent: t.resent, received: t.duplicates };
      }, { keys: ['sent', 'received'], labels: { protocol } });
    },
  };
}
