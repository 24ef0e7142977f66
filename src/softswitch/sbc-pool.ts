/**
 * The instances of one SBC pool, by their core-side addresses (`softswitch.sbcPool`,
 * docs/scale-out.md, "Losing an SBC instance"). A binding registered through instance A,
 * and a dialog whose route set A recorded, name A's core address; when A gives no answer
 * at all, the same request (Route and Request-URI unchanged) is tried at the next
 * instance, which takes A's entries as its own (`sbc.signing.aliases`) and finds the
 * terminal through Redis. An instance that did not answer is passed over for a while,
 * so the next requests go straight to a live one.
 */
import type { SendOptions } from '../sip/index.js';
import { hostPortKey as key } from '../sip/proxy/own-addresses.js';

type Destination = NonNullable<SendOptions['destination']>;

/** How long an instance that gave no answer is tried last. */
export const SBC_DOWN_MS = 30_000;

export class SbcPool {
  readonly #members: Array<{ host: string; port: number; key: string }>;
  readonly #downUntil = new Map<string, number>();

  constructor(
    members: ReadonlyArray<{ host: string; port: number }>,
    private readonly downMs = SBC_DOWN_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.#members = members.map((m) => ({ host: m.host, port: m.port, key: key(m.host, m.port) }));
  }

  get size(): number {
    return this.#members.length;
  }

  /**
   * The addresses to try for a next hop at `host:port`, in order: undefined when it is no
   * instance of the pool (or the pool has one); else the hop itself and then the other
   * instances in pool order after it, the ones that recently gave no answer last.
   */
  order(host: string, port: number, protocol: Destination['protocol'] = 'udp'): Destination[] | undefined {
    if (this.#members.length < 2) return undefined;
    const at = this.#members.findIndex((m) => m.key === key(host, port));
    if (at < 0) return undefined;
    const t = this.now();
    const ring = [...this.#members.slice(at), ...this.#members.slice(0, at)];
    const live = ring.filter((m) => !this.#isDown(m.key, t));
    const down = ring.filter((m) => this.#isDown(m.key, t));
    return [...live, ...down].map((m) => ({ address: m.host, port: m.port, protocol }));
  }

  /** An instance gave no answer at all: tried last for a while. */
  markDown(host: string, port: number): boolean {
    const k = key(host, port);
    if (!this.#members.some((m) => m.key === k)) return false;
    const was = this.#isDown(k, this.now());
    this.#downUntil.set(k, this.now() + this.downMs);
    return !was;
  }

  #isDown(k: string, t: number): boolean {
    const until = this.#downUntil.get(k);
    if (until === undefined) return false;
    if (until > t) return true;
    this.#downUntil.delete(k);
    return false;
  }
}
