/**
 * RFC 4733 events to key presses: an event is sent as several packets with
 * the same RTP timestamp (updates, then the end bit three times); it counts
 * once, when first seen. A flood is bounded: past `maxPerSecond` keys in a
 * second the rest are dropped and counted, and nothing grows with it.
 */
import { dtmfDigit, parseTelephoneEvent } from '../rtp/index.js';

export class DtmfReceiver {
  #lastTs = -1;
  #windowStart = 0;
  #inWindow = 0;
  /** Keys dropped by the rate bound. */
  dropped = 0;
  /** Keys taken. */
  taken = 0;

  constructor(
    private readonly maxPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The digit this telephone-event payload starts, if it starts one that is let through. */
  onPayload(timestamp: number, payload: Buffer): string | undefined {
    const e = parseTelephoneEvent(payload);
    if (!e) return undefined;
    if (timestamp === this.#lastTs) return undefined;
    this.#lastTs = timestamp;
    const digit = dtmfDigit(e.event);
    if (digit === undefined) return undefined;
    const t = this.now();
    if (t - this.#windowStart >= 1000) {
      this.#windowStart = t;
      this.#inWindow = 0;
    }
    if (++this.#inWindow > this.maxPerSecond) {
      this.dropped++;
      return undefined;
    }
    this.taken++;
    return digit;
  }
}
