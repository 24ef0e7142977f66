/**
 * Overload control for a gateway relay's new registrations (docs/sbc.md,
 * "Overload"). A saturated SBC leaves gateways' datagrams waiting in its
 * socket: the relay's count of commands toward the softswitch stays low, and
 * each command waits longer, until the gateways retransmit (MGCP and H.248
 * both first after 200 ms) and the retransmissions add to the load. The gate
 * reads that wait (SocketWait, a probe through the socket) once per step;
 * while it is at `waitHighMs` or more, the share of s1s refused grows, it
 * holds down to half of that, and it shrinks below (RefusedShare). An s1 refused costs a
 * parse and a short answer; admitted, it would have cost the whole KS1
 * exchange. What is under way (s7, a registered gateway's commands) is never
 * refused here.
 */
import { RefusedShare } from './refused-share.js';

/** At most this many steps' growth at once (at four times the threshold or more). */
const MAX_SCALE = 4;
/** The longest the share holds after a growth (a deep queue would hold it for as long as its wait). */
const HOLD_MAX_MS = 200;

export interface GatewayGateSettings {
  /** A datagram waiting this long in the relay's socket, ms, counts as overloaded (0: the gate is off). */
  waitHighMs: number;
  /** How often the share adapts, ms (default 100). */
  stepMs?: number;
  /** Added to the share per overloaded step (default 0.05). */
  increase?: number;
  /**
   * Taken off per calm step (default 0.025: half the growth step). With 0.05 the share fell below what 3× the
   * load needs within a few calm steps, and the queue that then built pushed the wait past the gateways'
   * retransmission every few seconds (docs/performance.md, session 24, "The gate gives back half as fast").
   */
  decrease?: number;
}

export interface GatewayGateStats {
  /** The share of new registrations refused now, 0…1. */
  refusedShare: number;
  /** Steps at which the socket's wait was at waitHighMs or more. */
  overloadedSteps: number;
  /** The longest wait the last step read, ms. */
  lastWaitMs: number;
}

export class GatewayGate {
  readonly #waitHighMs: number;
  readonly #share: RefusedShare;
  readonly #waitMs: () => number;
  readonly #now: () => number;
  /** Until when the share does not grow again: the effect of the last growth is not yet readable. */
  #holdUntil = 0;
  readonly #stats: GatewayGateStats = { refusedShare: 0, overloadedSteps: 0, lastWaitMs: 0 };

  /** `waitMs`: the longest a datagram waited in the socket since the last call (the transport's waitMs). */
  constructor(o: GatewayGateSettings, waitMs: () => number, now: () => number = () => performance.now()) {
    this.#waitHighMs = o.waitHighMs;
    this.#share = new RefusedShare({ stepMs: o.stepMs ?? 100, increase: o.increase ?? 0.05, decrease: o.decrease ?? 0.025 }, now());
    this.#waitMs = waitMs;
    this.#now = now;
  }

  /** Whether a gateway's new registration is refused now. */
  refuse(): boolean {
    if (this.#waitHighMs <= 0) return false;
    this.#step();
    return this.#share.refuse();
  }

  stats(): GatewayGateStats {
    if (this.#waitHighMs > 0) this.#step();
    this.#stats.refusedShare = this.#share.fraction;
    return this.#stats;
  }

  #step(): void {
    const t = this.#now();
    const steps = this.#share.due(t);
    if (steps === 0) return;
    const wait = this.#waitMs();
    this.#stats.lastWaitMs = wait;
    const high = this.#waitHighMs;
    if (wait >= high) {
      this.#stats.overloadedSteps++;
      // The wait read now is that of a datagram queued a wait ago: a larger share shows only a wait after it
      // is set. Until then the share holds (growing every step would overshoot to refusing everything); at
      // each growth it grows the more the further over (a gateway avalanche fills the socket in a few steps).
      if (t < this.#holdUntil) return;
      this.#share.adapt(true, steps, Math.min(MAX_SCALE, wait / high));
      this.#holdUntil = t + Math.min(wait, HOLD_MAX_MS);
    } else if (wait < high / 2) this.#share.adapt(false, steps);
    // between half the threshold and the threshold the share holds: shrinking there, it fell below what the
    // load needs and the wait rose past the threshold again, in cycles of a second
  }
}
