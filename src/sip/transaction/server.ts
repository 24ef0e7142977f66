/** Server transactions (RFC 3261 §17.2, with RFC 6026's Accepted state for INVITE). */
import type { SipRequest, SipResponse } from '../message.js';
import { serialize } from '../serialize.js';
import { TimerSet, type TimerConfig } from './timers.js';

export type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export interface ServerTransport {
  send(data: Buffer): Promise<void>;
  /** send() without a promise: `done` gets null once sent, else the error. */
  post(data: Buffer, done: (err: Error | null) => void): void;
  reliable: boolean;
  /**
   * Takes a completed non-INVITE transaction over an unreliable transport, as its key and
   * final response's bytes, for Timer J (completed.ts); the transaction object ends there.
   * Without it the transaction waits out Timer J itself.
   */
  keep?(key: string, bytes: Buffer): void;
}

export class ServerTransaction {
  state: ServerState;
  readonly isInvite: boolean;
  #timers: TimerSet | undefined;
  private last: Buffer | undefined;
  #request: SipRequest | undefined;
  #answered = false;
  /**
   * The final response sent, if any. A non-INVITE transaction lets go of it (and of
   * its request) once completed: Timer J keeps it 64*T1 (32 s) for retransmissions,
   * which need only the response bytes, and holding the parsed messages that long
   * cost ~10 KB per transaction under load. Use `answered` to ask whether one went.
   */
  finalResponse: SipResponse | undefined;
  absorbed = 0;
  sendErrors = 0;
  /**
   * The stack's context for the handler (stack.ts): a field rather than a WeakMap entry per
   * request, which cost a table insert and delete and an ephemeron for every GC to trace.
   * Cleared when a non-INVITE transaction sends its final, so Timer J does not keep it.
   */
  context: unknown = undefined;
  private onEnd: Array<() => void> = [];

  constructor(
    readonly key: string,
    request: SipRequest,
    private readonly transport: ServerTransport,
    private readonly t: TimerConfig,
    onTerminated: () => void,
  ) {
    this.#request = request;
    this.isInvite = request.method === 'INVITE';
    this.state = this.isInvite ? 'proceeding' : 'trying';
    this.onEnd.push(onTerminated);
  }

  /** Made on first use: a non-INVITE transaction handed to the completed table never starts one. */
  private get timers(): TimerSet {
    return (this.#timers ??= new TimerSet());
  }

  /** The request; not available once a non-INVITE transaction has sent its final response. */
  get request(): SipRequest {
    if (!this.#request) throw new Error('the request of a completed non-INVITE transaction is released');
    return this.#request;
  }

  /** A final response has been sent. */
  get answered(): boolean {
    return this.#answered;
  }

  private transmit(buf: Buffer): void {
    this.transport.post(buf, this.#sent);
  }

  /** One callback per transaction for all its sends, not a promise and a catch per send. */
  readonly #sent = (err: Error | null): void => {
    if (err) this.sendErrors++;
  };

  /** A retransmission of the request: answer with the last response (or absorb it). */
  receiveRetransmission(): void {
    this.absorbed++;
    if ((this.state === 'proceeding' || this.state === 'completed') && this.last) this.transmit(this.last);
  }

  /** ACK matching this INVITE transaction (for a non-2xx final response). */
  receiveAck(): void {
    if (this.state !== 'completed') {
      this.absorbed++;
      return;
    }
    this.state = 'confirmed';
    this.timers.stop('G');
    this.timers.stop('H');
    this.timers.start('I', this.transport.reliable ? 0 : this.t.T4, () => this.terminate());
  }

  /**
   * Sends a response. `retransmit2xx`: an INVITE UAS keeps resending its 2xx (T1 doubling
   * up to T2) until `ackReceived()` or 64*T1 (RFC 3261 §13.3.1.4); a proxy forwarding
   * a 2xx must not.
   */
  respond(res: SipResponse, retransmit2xx = false): boolean {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed') return false;
    const s = res.status;
    const buf = serialize(res);
    if (s < 200) {
      if (this.state === 'accepted') return false;
      this.state = 'proceeding';
      this.last = buf;
      this.transmit(buf);
      return true;
    }
    if (this.state === 'accepted') {
      // further 2xx from the TU are passed on (RFC 6026 §8.7)
      if (s < 300) this.transmit(buf);
      return s < 300;
    }
    this.finalResponse = res;
    this.#answered = true;
    this.transmit(buf);
    if (!this.isInvite && !this.transport.reliable && this.transport.keep) {
      // the table answers retransmissions from now on (it keeps its own copy); this object is done (its state stays 'completed')
      this.state = 'completed';
      this.finalResponse = undefined;
      this.#request = undefined;
      this.last = undefined;
      this.transport.keep(this.key, buf);
      this.#ended();
      return true;
    }
    this.last = ownBytes(buf);
    const T1 = this.t.T1;
    if (this.isInvite && s < 300) {
      this.state = 'accepted';
      this.timers.start('L', 64 * T1, () => this.terminate());
      if (retransmit2xx && !this.transport.reliable) this.retransmit2xx(buf, T1);
    } else if (this.isInvite) {
      this.state = 'completed';
      if (!this.transport.reliable) this.retransmitFinal(buf, T1);
      this.timers.start('H', 64 * T1, () => this.terminate());
    } else {
      this.state = 'completed';
      this.finalResponse = undefined;
      this.#request = undefined;
      // Timer J is zero on a reliable transport (RFC 3261 §17.2.2): end now, not on a
      // later tick, so an identical request on another connection (a replay) is a new
      // request and not a "retransmission" answered over a connection that is gone.
      if (this.transport.reliable) this.terminate();
      else this.timers.start('J', 64 * T1, () => this.terminate());
    }
    return true;
  }

  private retransmitFinal(buf: Buffer, ms: number): void {
    this.timers.start('G', ms, () => {
      if (this.state !== 'completed') return;
      this.transmit(buf);
      this.retransmitFinal(buf, Math.min(2 * ms, this.t.T2));
    });
  }

  private retransmit2xx(buf: Buffer, ms: number): void {
    this.timers.start('2xx', ms, () => {
      if (this.state !== 'accepted') return;
      this.transmit(buf);
      this.retransmit2xx(buf, Math.min(2 * ms, this.t.T2));
    });
  }

  /** The ACK for our 2xx arrived (matched by the stack on Call-ID and CSeq number). */
  ackReceived(): void {
    this.timers.stop('2xx');
  }

  onTerminate(fn: () => void): void {
    this.onEnd.push(fn);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.#timers?.clear();
    this.#ended();
  }

  #ended(): void {
    const fns = this.onEnd;
    this.onEnd = [];
    for (const fn of fns) fn();
  }
}

/**
 * The final response's bytes as a buffer of their own. A small serialized
 * message is a slice of Node's shared allocation pool (8 KiB on Node 20,
 * 64 KiB on Node 24), and a completed transaction keeps it for Timer J
 * (32 s over UDP): one slice pins the whole pool block.
 */
function ownBytes(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const own = Buffer.allocUnsafeSlow(b.byteLength);
  b.copy(own);
  return own;
}
