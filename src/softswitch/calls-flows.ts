/**
 * In-dialog requests are routed by their Route set and Request-URI alone (no
 * store access). When the Request-URI is a terminal's Contact that the core
 * cannot reach by itself — a terminal behind an SBC, or one that talks to us
 * over its own TCP/TLS connection — this in-memory index says which hop it
 * is reached through. It is filled while dialogs are set up (the INVITE from
 * the terminal, the 2xx from it, the binding an INVITE was routed to) and is
 * bounded: the oldest entries go first, and entries expire.
 *
 * An SBC that record-routes itself (docs/sip-core-link.md, "Calls") makes
 * this index unnecessary for its terminals: the Route set then names it.
 */
import type { SipConnection } from '../sip/transport/types.js';
import type { Hop } from './calls.js';

export interface FlowHop extends Hop {
  connection?: SipConnection;
}

interface Entry {
  hop: FlowHop;
  expiresAt: number;
}

export class FlowIndex {
  readonly #map = new Map<string, Entry>();
  constructor(
    private readonly ttlMs = 12 * 3600_000,
    private readonly max = 200_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `contact` as written in a Contact or Request-URI; compared in the canonical form of `contactKey`. */
  remember(contact: string, hop: FlowHop): void {
    const k = contactKey(contact);
    if (!k) return;
    this.#map.delete(k);
    this.#map.set(k, { hop, expiresAt: this.now() + this.ttlMs });
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!);
  }

  find(uri: string): FlowHop | undefined {
    const k = contactKey(uri);
    if (!k) return undefined;
    const e = this.#map.get(k);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.#map.delete(k);
      return undefined;
    }
    if (e.hop.connection?.closed) {
      const { connection: _gone, ...rest } = e.hop;
      e.hop = rest;
    }
    return e.hop;
  }

  get size(): number {
    return this.#map.size;
  }
}

/**
 * user@host:port plus the transport parameter, host lower case: what tells
 * two contacts apart for routing (other URI parameters do not change where
 * a request goes).
 */
export function contactKey(uri: string): string | undefined {
  const m = /^(sips?):(?:([^@;?]*)@)?(\[[^\]]+\]|[^:;?]+)(?::([0-9]+))?([^?]*)/i.exec(uri.trim());
  if (!m) return undefined;
  const tp = /;transport=([a-z]+)/i.exec(m[5] ?? '');
  return `${m[1]!.toLowerCase()}:${m[2] ?? ''}@${m[3]!.toLowerCase()}:${m[4] ?? ''};${tp ? tp[1]!.toLowerCase() : ''}`;
}
