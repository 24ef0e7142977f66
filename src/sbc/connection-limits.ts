/**
 * The bounds on the SBC's stream listeners facing terminals (SIP over TCP, TLS, TLS-PSK),
 * so that a flood of connections, slow or half-open ones included, cannot take the SBC,
 * the process's file descriptors or its memory (docs/sbc.md, "Connections").
 */
import type { StreamOptions } from '../sip/index.js';

export interface SbcConnectionLimits {
  /** Connections at once from one address, TLS handshakes in progress included; 0: no cap. */
  maxPerSource?: number;
  /** Connections at once on each listener, handshakes included; 0: no cap. */
  max?: number;
  /** A TLS handshake must be done this long after the connection was accepted; 0: Node's own 120 s. */
  handshakeTimeoutMs?: number;
  /** A SIP message must be complete this long after its first byte, however slowly it comes; 0: no deadline. */
  messageTimeoutMs?: number;
  /** A connection that set up no registration and no dialog closes after this long without a message; 0: never. */
  idleMs?: number;
  /** A flow (a registration or a dialog went over it) closes after this long without traffic, keep-alives included; 0: never. */
  flowIdleMs?: number;
}

/**
 * Defaults for the SBC. A NAT puts many phones behind one address, hence 64 from one
 * source; 2048 per listener keeps three listeners well inside a 20,000-descriptor limit
 * and (measured by bench:flood) a few hundred MB. A KS1 or Digest registration takes a
 * few round trips, done in well under a second: 10 s for a handshake or a message and
 * 30 s for a connection that registered nothing are generous. A registered terminal
 * refreshes at the latest when its registration runs out (softswitch.expires.maxSeconds, 7200 s
 * by default), so its flow is kept that long without a keep-alive.
 */
export const DEFAULT_CONNECTION_LIMITS: Required<SbcConnectionLimits> = {
  maxPerSource: 64,
  max: 2048,
  handshakeTimeoutMs: 10_000,
  messageTimeoutMs: 10_000,
  idleMs: 30_000,
  flowIdleMs: 7_200_000,
};

/** The stream transport options for these limits (0 turns a bound off). */
export function streamLimits(l: SbcConnectionLimits = {}): Pick<StreamOptions, 'maxConnections' | 'maxConnectionsPerSource' | 'handshakeTimeoutMs' | 'messageTimeoutMs' | 'unboundIdleTimeoutMs' | 'idleTimeoutMs'> {
  const v = { ...DEFAULT_CONNECTION_LIMITS, ...l };
  return {
    maxConnections: v.max > 0 ? v.max : Number.MAX_SAFE_INTEGER,
    maxConnectionsPerSource: v.maxPerSource,
    handshakeTimeoutMs: v.handshakeTimeoutMs,
    messageTimeoutMs: v.messageTimeoutMs,
    unboundIdleTimeoutMs: v.idleMs,
    idleTimeoutMs: v.flowIdleMs,
  };
}
