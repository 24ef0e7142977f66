/** The signing metrics of the SBC, and the failure sink that feeds them and the guard. */
import type { MetricsRegistry } from '../../metrics/registry.js';
import type { SignatureGuard } from './guard.js';
import type { FailureSink } from './sip-signatures.js';

export const SIGNING_METRICS = {
  failures: 'keyswitch_sbc_signature_failures_total',
  blocks: 'keyswitch_sbc_sources_blocked_total',
  blocked: 'keyswitch_sbc_blocked_sources',
} as const;

/**
 * Registers the signing metrics and returns the sink to hand to
 * `HeaderSigner` as `onFailure`: each failure is counted by check and reason
 * and, when it names a source, counted against it in the guard.
 */
export function signingFailureSink(registry: MetricsRegistry | undefined, guard: SignatureGuard | undefined): FailureSink {
  const failures = registry?.counter(SIGNING_METRICS.failures, 'SIP header signatures that failed verification on the untrusted side', { labelNames: ['check', 'reason'] });
  const blocks = registry?.counter(SIGNING_METRICS.blocks, 'Sources blocked for too many signature failures');
  if (registry && guard) registry.gauge(SIGNING_METRICS.blocked, 'Sources blocked right now for signature failures').onCollect((g) => g.set(guard.blockedSources().length));
  return (source, check, reason) => {
    failures?.inc({ check, reason });
    if (guard && source !== undefined && guard.fail(source)) blocks?.inc();
  };
}
