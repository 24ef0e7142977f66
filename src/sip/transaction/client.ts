/** Client transactions (RFC 3261 §17.1, with RFC 6026's Accepted state for INVITE). */
import { SipResponse, type SipRequest } from '../message.js';
import { serialize } from '../serialize.js';
import { createAckForFailure } from '../build.js';
import { TimerSet, type TimerConfig } from './timers.js';

const EMPTY = Buffer.alloc(0);
const IGNORE = (): void => undefined;
const RELEASED: ClientTransport = { reliable: false, send: () => Promise.resolve(), post: () => undefined };

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

export interface ClientTransport {
  /** Sends bytes towards the transaction's next hop. */
  send(data: Buffer): Promise<void>;
  /** send() without a promise: `done` gets null once sent, else the error. */
  post(data: Buffer, done: (err: Error | null) => void): void;
  reliable: boolean;
}

export interface ClientEvents {
  /** Every response the TU should see: 1xx, the first final, and later 2xx (forking). */
  onResponse(res: SipResponse): void;
  onTerminated(): void;
  /**
   * A non-INVITE transaction got its final: the TU keeps its key for Timer K (completed.ts)
   * and the transaction ends now. Without it the transaction waits out Timer K itself.
   */
  onCompleted?(): void;
}

export class ClientTransaction {
  state: ClientState;
  readonly isInvite: boolean;
  private readonly timers = new TimerSet();
  private wire: Buffer;
  private ackWire: Buffer | undefined;
  retransmissions = 0;
  /**
   * A non-INVITE transaction lets go of its request, its bytes, its transport and the TU's
   * callbacks once it has its final answer: Timer K keeps it T4 (5 s) only to absorb
   * retransmitted finals, and the callbacks reach the whole relay that sent it (both
   * messages, the server context). Held that long under load, they were most of the heap.
   */
  #request: SipRequest | undefined;
  private transport: ClientTransport;
  private events: ClientEvents;

  constructor(
    readonly key: string,
    request: SipRequest,
    transport: ClientTransport,
    private readonly t: TimerConfig,
    events: ClientEvents,
  ) {
    this.#request = request;
    this.transport = transport;
    this.events = events;
    this.isInvite = request.method === 'INVITE';
    this.state = this.isInvite ? 'calling' : 'trying';
    this.wire = serialize(request);
  }

  /** The request sent; not available once a non-INVITE transaction is completed. */
  get request(): SipRequest {
    if (!this.#request) throw new Error('the request of a completed non-INVITE transaction is released');
    return this.#request;
  }

  start(): void {
    this.transmit(this.wire);
    const t1 = this.t.T1;
    if (!this.transport.reliable) this.retransmitAfter(t1);
    // Timer B / F
    this.timers.start('timeout', 64 * t1, () => this.fail(408, 'Request Timeout', 'timeout'));
  }

  /** A CANCEL for this INVITE was sent: without a final within 64·T1 it ends as a timeout (RFC 3261 §9.1). */
  cancelSent(): void {
    // before a provisional Timer B still runs; after one nothing bounds the wait
    if (this.isInvite && this.state === 'proceeding') {
      this.timers.start('timeout', 64 * this.t.T1, () => this.fail(408, 'Request Timeout', 'timeout'));
    }
  }

  private retransmitAfter(ms: number): void {
    // Timer A (INVITE) doubles without bound; Timer E (non-INVITE) is capped at T2
    this.timers.start('retransmit', ms, () => {
      if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
      this.retransmissions++;
      this.transmit(this.wire);
      const next = this.isInvite ? ms * 2 : this.state === 'proceeding' ? this.t.T2 : Math.min(ms * 2, this.t.T2);
      this.retransmitAfter(next);
    });
  }

  private transmit(buf: Buffer): void {
    this.transport.post(buf, this.#sent);
  }

  /** One callback per transaction for all its sends, not a promise and a catch per send. */
  readonly #sent = (err: Error | null): void => {
    if (err) this.fail(503, 'Service Unavailable', 'transport');
  };

  private fail(status: number, reason: string, why: 'timeout' | 'transport'): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
    const res = new SipResponse(status, reason, this.#request!.headers.filter((h) => h.key === 'via' || h.key === 'from' || h.key === 'to' || h.key === 'call-id' || h.key === 'cseq'));
    res.localReason = why;
    this.terminate();
    this.events.onResponse(res);
  }

  receive(res: SipResponse): void {
    const s = res.status;
    switch (this.state) {
      case 'calling':
      case 'trying':
      case 'proceeding':
        if (s < 200) {
          if (this.state === 'calling') this.timers.stop('retransmit');
          if (this.isInvite) this.timers.stop('timeout');
          this.state = 'proceeding';
          this.events.onResponse(res);
          return;
        }
        this.timers.stop('retransmit');
        this.timers.stop('timeout');
        if (this.isInvite && s < 300) {
          this.state = 'accepted';
          this.timers.start('M', 64 * this.t.T1, () => this.terminate());
        } else if (this.isInvite) {
          this.state = 'completed';
          this.ackWire = serialize(createAckForFailure(this.request, res));
          this.transmit(this.ackWire);
          this.timers.start('D', this.transport.reliable ? 0 : Math.max(32_000, 64 * this.t.T1), () => this.terminate());
        } else {
          const events = this.events;
          if (events.onCompleted) {
            this.state = 'terminated';
            this.#release(IGNORE);
            events.onCompleted();
            events.onResponse(res);
            return;
          }
          this.state = 'completed';
          this.timers.start('K', this.transport.reliable ? 0 : this.t.T4, () => this.terminate());
          // (a TU without onCompleted: its events stay reachable for Timer K, called as its method)
          this.#release(() => events.onTerminated());
          events.onResponse(res);
          return;
        }
        this.events.onResponse(res);
        return;
      case 'completed':
        // a retransmitted final response: resend the ACK, tell nobody
        if (this.isInvite && s >= 300 && this.ackWire) this.transmit(this.ackWire);
        return;
      case 'accepted':
        if (s >= 200 && s < 300) this.events.onResponse(res);
        return;
      default:
        return;
    }
  }

  #release(onTerminated: () => void): void {
    this.#request = undefined;
    this.wire = EMPTY;
    this.transport = RELEASED;
    this.events = { onResponse: IGNORE, onTerminated };
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clear();
    this.events.onTerminated();
  }
}
