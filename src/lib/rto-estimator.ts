/**
 * A retransmission timeout that follows how late answers come (the smoothed
 * delay and its mean deviation, RFC 6298's estimator). H.248.1 Annex D and
 * RFC 3435 §4.3 ask a gateway-control transport over UDP to adapt its timer
 * so; with a fixed 200 ms one, an answer that waits longer than that in a
 * loaded peer's socket, or in our own, is taken for a loss: every request is
 * sent again, the peer answers each copy again, and the load that delayed the
 * answers grows (docs/performance.md, "What the datagrams at 3× are, and two causes removed (session 24)").
 *
 * The timeout never falls below `floorMs` (the configured first interval): on
 * a quiet network it is that interval, as before, and it only stretches while
 * answers are measured late. Samples are taken from the first send, also for
 * a request that was sent again (Karn's ambiguity then errs long, the safe
 * side under load), and never across a Pending or a provisional answer,
 * which measure the peer's work rather than the path.
 */
export class RtoEstimator {
  readonly #floorMs: number;
  readonly #ceilingMs: number;
  #srtt = -1;
  #rttvar = 0;

  constructor(floorMs: number, ceilingMs: number) {
    this.#floorMs = floorMs;
    this.#ceilingMs = Math.max(floorMs, ceilingMs);
  }

  /** An answer came `ms` after the request was first sent. */
  sample(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    if (this.#srtt < 0) {
      this.#srtt = ms;
      this.#rttvar = ms / 2;
      return;
    }
    const err = ms - this.#srtt;
    this.#srtt += err / 8;
    this.#rttvar += (Math.abs(err) - this.#rttvar) / 4;
  }

  /** The first interval for the next request, ms. */
  get rtoMs(): number {
    if (this.#srtt < 0) return this.#floorMs;
    return Math.min(this.#ceilingMs, Math.max(this.#floorMs, Math.round(this.#srtt + 4 * this.#rttvar)));
  }
}
