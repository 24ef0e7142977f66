/**
 * The share of new work refused under overload (RFC 7339's loss percentage),
 * adapted in fixed steps: while a step finds the process overloaded the
 * share grows by `increase`, while calm it shrinks by `decrease` per step.
 * With equal steps it settles where the load just keeps the signals at their
 * thresholds (docs/sbc.md, "Overload"). Refusals are spread evenly (one in
 * ten at 10 %), not drawn at random, so a short run refuses its share too.
 *
 * Pure: the caller gives the clock; nothing here reads the wall clock.
 */
export class RefusedShare {
  /** Thousandths (integers: the thinning is exact). */
  #permille = 0;
  /** Deterministic thinning: refuse when the running sum of the share crosses a whole number. */
  #acc = 0;
  readonly #up: number;
  readonly #down: number;
  readonly #stepMs: number;
  #lastStep: number;

  constructor(o: { stepMs: number; increase: number; decrease: number }, start: number) {
    this.#stepMs = o.stepMs;
    this.#up = Math.round(o.increase * 1000);
    this.#down = Math.round(o.decrease * 1000);
    this.#lastStep = start;
  }

  /** The share refused now, 0…1. */
  get fraction(): number {
    return this.#permille / 1000;
  }

  /** How many whole steps have passed by `t` since the last (0: none due; at most 1,000 after a quiet spell). */
  due(t: number): number {
    const elapsed = t - this.#lastStep;
    if (elapsed < this.#stepMs) return 0;
    const steps = Math.min(1000, Math.floor(elapsed / this.#stepMs));
    this.#lastStep += steps * this.#stepMs;
    return steps;
  }

  /**
   * One adaptation for `steps` steps: an overloaded reading grows the share by one step (`scale` of
   * them: how far over its threshold the signal was), a calm one shrinks it by all of them.
   */
  adapt(overloaded: boolean, steps: number, scale = 1): void {
    if (overloaded) this.#permille = Math.min(1000, this.#permille + Math.round(this.#up * scale));
    else this.#permille = Math.max(0, this.#permille - steps * this.#down);
    if (this.#permille === 0) this.#acc = 0;
  }

  /** Whether the next new request is one of the share refused. */
  refuse(): boolean {
    if (this.#permille <= 0) return false;
    this.#acc += this.#permille;
    if (this.#acc >= 1000) {
      this.#acc -= 1000;
      return true;
    }
    return false;
  }
}
