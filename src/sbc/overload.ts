/**
 * Overload control at the SBC's inbound interception point (docs/sbc.md,
 * "Overload"), after RFC 6357 (design considerations for SIP overload
 * control) and RFC 7339 (loss-based overload control):
 *
 * - Work already paid for is finished first. A transaction in progress (a
 *   KS1 s7 or a Digest REGISTER with Authorization, which completes a
 *   registration that already cost a challenge; a refresh proved by the
 *   terminal's session; anything in a dialog; ACK, CANCEL, BYE; every
 *   response) always passes.
 * - New work is refused early and cheaply: a dialog-forming request out of
 *   dialog (INVITE, SUBSCRIBE, …), a KS1 s1 or a first REGISTER without
 *   credentials is answered 503 with Retry-After, statelessly, to its source
 *   only, before the transaction layer — so it costs no transaction, no core
 *   round trip and no AuC vector.
 * - A retransmission of a request that was admitted passes, so that the
 *   transaction layer absorbs it as usual rather than it being answered 503
 *   while the original is still being served.
 *
 * Saturation is read from three signals: the requests pending toward the core
 * (a bounded queue: at `maxPending` every new request is refused; with
 * `maxWaitMs`, at what the core answers in that long when that is more — a
 * count fills in fewer milliseconds the faster the core), the time
 * the core takes to answer (its queue's delay, whatever its capacity: a
 * request that waits longer than T1 is retransmitted by the terminal and by
 * this SBC, which is how a retransmission storm starts) and the event loop's
 * lag (the process is behind). While either says "overloaded",
 * the fraction of new requests refused grows step by step (RFC 7339's loss
 * percentage); once both are calm again it shrinks by the same steps, so it
 * settles where the load just keeps the signals at their thresholds. Goodput
 * then stays near capacity instead of collapsing in a retransmission storm.
 * The 503s' Retry-After is spread over [retryAfter, 2·retryAfter] so that
 * the terminals refused together do not all come back in the same second.
 *
 * A pure decision object: signals and the clock are given; nothing here
 * reads the wall clock, sends or logs (tests drive it step by step).
 */
import { findKs1, isS7 } from '../adapters/sip/ks1-sip.js';
import { KS_HMAC } from '../adapters/sip/sbc-app-hmac.js';
import { ownString } from '../sip/own-string.js';
import { RefusedShare } from './refused-share.js';
import type { MetricsRegistry } from '../metrics/registry.js';
import type { SipMessage, SipRequest } from '../sip/message.js';
import type { SipStack } from '../sip/stack.js';
import type { InboundVerdict } from '../sip/proxy/hooks.js';
import type { MessageSource } from '../sip/transport/types.js';

export interface OverloadSettings {
  /**
   * Requests pending toward the core at which every new request is refused, at least (0: no bound);
   * more while the core answers faster: what it answers in `maxWaitMs`.
   */
  maxPending: number;
  /** The queue toward the core bounded in time, ms: at most what the core answers in this long is pending (0 or absent: maxPending alone). */
  maxWaitMs?: number;
  /** Event-loop lag, ms, above which the process counts as overloaded (0: lag not used). */
  lagHighMs: number;
  /** Retry-After of the 503, seconds (spread up to twice that). */
  retryAfterSec: number;
  /** The core's answer delay, ms, above which the process counts as overloaded (0 or absent: delay not used). */
  delayHighMs?: number;
  /** How often the refused fraction adapts, ms (default 100). */
  stepMs?: number;
  /** Added to the refused fraction per step while overloaded (default 0.05). */
  increase?: number;
  /** Taken off per step while calm (default 0.05). */
  decrease?: number;
  /**
   * The event loop's busy share (0…1, performance.eventLoopUtilization over a step) at or above which the process
   * counts as overloaded once it has lasted `busySteps` steps (0 or absent: not used). The SBC's own saturation:
   * datagrams then wait in its socket, where no other signal sees them.
   */
  busyHigh?: number;
  /** Steps in a row the loop must stay at busyHigh or more to count (default 5: half a second; a transient is not overload). */
  busySteps?: number;
  /** How long an admitted request's retransmissions pass, ms (default 10 000). */
  rememberMs?: number;
  /** At most this many admitted requests remembered (default 50 000). */
  maxRemembered?: number;
}

/** What the gate reads each step. */
export interface OverloadSignals {
  /** Requests sent toward the core that have no final answer yet. */
  pending(): number;
  /** The event loop's recent lag, ms. */
  lagMs(): number;
  /** How long the core took to answer lately, ms (see CoreQueue.delayMs). */
  delayMs?(): number;
  /** Answers per ms from the core lately (see CoreQueue.answerRate); read after delayMs(). */
  answerRate?(): number;
  /** The event loop's busy share since the last call, 0…1 (see LoopBusy); read once per step when busyHigh is set. */
  busy?(): number;
}

export type RequestClass = 'new-dialog' | 'new-registration' | 'in-progress';

export type OverloadVerdict = InboundVerdict;

export interface OverloadStats {
  /** The fraction of new requests refused now (0…1). */
  rejectFraction: number;
  overloaded: boolean;
  admitted: number;
  rejected: { 'new-dialog': number; 'new-registration': number };
  /** Retransmissions of admitted requests let through while new ones were refused. */
  retransmissionsPassed: number;
  /** Admitted requests remembered now (bounded by maxRemembered). */
  remembered: number;
  /** Steps at which each signal said "overloaded" (several at one step each count): which one sheds load. */
  overloadedSteps: Record<OverloadSignal, number>;
}

/** What the gate reads as overload: the queue toward the core half full, the event loop late, the core slow to answer, the loop saturated. */
export const OVERLOAD_SIGNALS = ['pending', 'lag', 'delay', 'busy'] as const;
export type OverloadSignal = (typeof OVERLOAD_SIGNALS)[number];

/** A shedding episode's start (the signals that began it) or end (how long it lasted, what it refused). */
export type SheddingEvent =
  | { kind: 'start'; signals: OverloadSignal[]; pending: number; bound: number; lagMs: number; delayMs: number; busy: number }
  | { kind: 'end'; durationMs: number; refused: number };

const PASS: InboundVerdict = Object.freeze({ kind: 'pass' }) as InboundVerdict;

/** Methods that never start anything new: they belong to a transaction or dialog that exists. */
const IN_PROGRESS_METHODS = new Set(['ACK', 'CANCEL', 'BYE', 'PRACK', 'UPDATE', 'INFO', 'NOTIFY']);

/**
 * The class of a message for overload control. Anything malformed enough
 * that this cannot tell is `in-progress`: the stack answers it 400 anyway,
 * at no more cost than a 503.
 */
export function classify(msg: SipMessage, src: MessageSource): RequestClass {
  if (!msg.isRequest()) return 'in-progress';
  const req = msg as SipRequest;
  const method = req.method;
  if (IN_PROGRESS_METHODS.has(method)) return 'in-progress';
  try {
    if (req.to().params.tag !== undefined) return 'in-progress';
    if (method !== 'REGISTER') return 'new-dialog';
    const ks1 = findKs1(req);
    if (ks1.kind === 'ks1') return isS7(ks1.params) ? 'in-progress' : 'new-registration';
    if (ks1.kind === 'malformed') return 'in-progress';
    // Digest credentials answer a challenge already given
    if (req.has('authorization')) return 'in-progress';
    // a refresh proved by the terminal's session (app-hmac, or its TLS-PSK connection) costs no AuC round trip
    if (req.has(KS_HMAC) || src.pskIdentity !== undefined) return 'in-progress';
    return 'new-registration';
  } catch {
    return 'in-progress';
  }
}

export class OverloadGate {
  readonly #o: Required<OverloadSettings>;
  readonly #signals: OverloadSignals;
  readonly #now: () => number;
  readonly #share: RefusedShare;
  #overloaded = false;
  /** Steps in a row the loop was at busyHigh or more. */
  #busyRun = 0;
  /** Pending at which every new request is refused now: maxPending, or what the core answers in maxWaitMs if more. */
  #bound: number;
  /** Admitted requests (top Via branch) → until when their retransmissions pass. */
  readonly #admitted = new Map<string, number>();
  /**
   * The same entries in the order they were remembered (which is expiry order: every entry lives
   * rememberMs), as two arrays read from `#head`. Not the Map's own order: a Map used as a queue
   * keeps its deleted entries as holes until it rehashes, and every iteration from its head walks
   * them again (thousands per admitted request at 1,000/s with the 10-s default).
   */
  #queueKeys: (string | undefined)[] = [];
  #queueUntil: number[] = [];
  #head = 0;
  readonly #stats: OverloadStats = { rejectFraction: 0, overloaded: false, admitted: 0, rejected: { 'new-dialog': 0, 'new-registration': 0 }, retransmissionsPassed: 0, remembered: 0, overloadedSteps: { pending: 0, lag: 0, delay: 0, busy: 0 } };
  /** The 503s, one per Retry-After value from retryAfterSec to twice it, used in turn. */
  readonly #rejects: InboundVerdict[];
  #rejectTurn = 0;
  readonly #onShedding: ((e: SheddingEvent) => void) | undefined;
  /** When the current shedding episode began, and the refusals counted before it. */
  #shedSince = 0;
  #refusedBefore = 0;

  /** `onShedding`: told when the gate starts refusing new requests and when it stops (the SBC logs both). */
  constructor(o: OverloadSettings, signals: OverloadSignals, now: () => number, onShedding?: (e: SheddingEvent) => void) {
    this.#onShedding = onShedding;
    // equal steps up and down: the refused share settles where the signals stay at their threshold
    this.#o = { stepMs: 100, increase: 0.05, decrease: 0.05, rememberMs: 10_000, maxRemembered: 50_000, delayHighMs: 0, maxWaitMs: 0, busyHigh: 0, busySteps: 5, ...o };
    this.#bound = this.#o.maxPending;
    this.#signals = signals;
    this.#now = now;
    this.#share = new RefusedShare(this.#o, now());
    const r = Math.max(0, Math.floor(o.retryAfterSec));
    this.#rejects = Array.from({ length: r + 1 }, (_, i) => Object.freeze({ kind: 'reject', status: 503, reason: 'Service Unavailable', retryAfter: r + i }) as InboundVerdict);
  }

  /** The verdict on one inbound message (the SBC's onInbound hook). */
  decide(msg: SipMessage, src: MessageSource): OverloadVerdict {
    if (!msg.isRequest()) return PASS;
    const cls = classify(msg, src);
    if (cls === 'in-progress') return PASS;
    const t = this.#now();
    this.#step(t);
    const b = (msg as SipRequest).topVia()?.params.branch;
    const branch = typeof b === 'string' && b !== '' ? b : undefined;
    if (branch !== undefined) {
      const until = this.#admitted.get(branch);
      if (until !== undefined && until > t) {
        if (this.#share.fraction > 0) this.#stats.retransmissionsPassed++;
        return PASS;
      }
    }
    if (this.#refuse()) {
      this.#stats.rejected[cls]++;
      const v = this.#rejects[this.#rejectTurn]!;
      this.#rejectTurn = (this.#rejectTurn + 1) % this.#rejects.length;
      return v;
    }
    this.#stats.admitted++;
    if (branch !== undefined) this.#remember(branch, t);
    return PASS;
  }

  stats(): OverloadStats {
    this.#step(this.#now());
    this.#stats.rejectFraction = this.#share.fraction;
    this.#stats.overloaded = this.#overloaded;
    this.#stats.remembered = this.#admitted.size;
    return this.#stats;
  }

  #refuse(): boolean {
    if (this.#bound > 0 && this.#signals.pending() >= this.#bound) return true;
    return this.#share.refuse();
  }

  /** Adapts the refused fraction once per step (several steps at once after a quiet spell). */
  #step(t: number): void {
    const steps = this.#share.due(t);
    if (steps === 0) return;
    const o = this.#o;
    const pending = o.maxPending > 0 ? this.#signals.pending() : 0;
    const lag = o.lagHighMs > 0 ? this.#signals.lagMs() : 0;
    const delay = (o.delayHighMs > 0 || o.maxWaitMs > 0) && this.#signals.delayMs ? this.#signals.delayMs() : 0;
    const busy = o.busyHigh > 0 && this.#signals.busy ? this.#signals.busy() : 0;
    this.#busyRun = o.busyHigh > 0 && busy >= o.busyHigh ? this.#busyRun + 1 : 0;
    // a count that does not grow with the core's rate would be a shorter wait the faster the core: bounded in time instead
    const rate = o.maxPending > 0 && o.maxWaitMs > 0 && this.#signals.answerRate ? this.#signals.answerRate() : 0;
    this.#bound = o.maxPending > 0 ? Math.max(o.maxPending, Math.round(rate * o.maxWaitMs)) : 0;
    // the queue toward the core half full is the early sign; full refuses everything new (#refuse)
    const fired: Record<OverloadSignal, boolean> = {
      pending: this.#bound > 0 && pending >= this.#bound / 2,
      lag: o.lagHighMs > 0 && lag >= o.lagHighMs,
      delay: o.delayHighMs > 0 && delay >= o.delayHighMs,
      busy: o.busyHigh > 0 && this.#busyRun >= o.busySteps,
    };
    this.#overloaded = false;
    for (const k of OVERLOAD_SIGNALS) {
      if (!fired[k]) continue;
      this.#stats.overloadedSteps[k]++;
      this.#overloaded = true;
    }
    const before = this.#share.fraction;
    this.#share.adapt(this.#overloaded, steps);
    if (this.#onShedding && (before === 0) !== (this.#share.fraction === 0)) this.#shedding(before === 0, fired, { pending, lag, delay, busy }, t);
  }

  #shedding(start: boolean, fired: Record<OverloadSignal, boolean>, v: { pending: number; lag: number; delay: number; busy: number }, t: number): void {
    const refused = this.#stats.rejected['new-dialog'] + this.#stats.rejected['new-registration'];
    if (start) {
      this.#shedSince = t;
      this.#refusedBefore = refused;
      this.#onShedding!({ kind: 'start', signals: OVERLOAD_SIGNALS.filter((k) => fired[k]), pending: v.pending, bound: this.#bound, lagMs: Math.round(v.lag), delayMs: Math.round(v.delay), busy: Math.round(v.busy * 100) / 100 });
    } else this.#onShedding!({ kind: 'end', durationMs: Math.round(t - this.#shedSince), refused: refused - this.#refusedBefore });
  }

  #remember(branch: string, t: number): void {
    const m = this.#admitted;
    const keys = this.#queueKeys;
    const untils = this.#queueUntil;
    let h = this.#head;
    // expired entries are at the front; a key remembered again later has a newer entry behind
    while (h < keys.length && (untils[h]! <= t || m.size >= this.#o.maxRemembered)) {
      const k = keys[h]!;
      if (m.get(k) === untils[h]) m.delete(k);
      keys[h++] = undefined;
    }
    if (h === keys.length) {
      this.#queueKeys = [];
      this.#queueUntil = [];
      h = 0;
    } else if (h > 4096 && h * 2 > keys.length) {
      this.#queueKeys = keys.slice(h);
      this.#queueUntil = untils.slice(h);
      h = 0;
    }
    this.#head = h;
    // a copy: the branch is a slice of the request's header text, which the table would keep for rememberMs
    const key = ownString(branch);
    const until = t + this.#o.rememberMs;
    m.set(key, until);
    this.#queueKeys.push(key);
    this.#queueUntil.push(until);
  }
}

/**
 * The event loop's lag, sampled by a timer that notes how late it fires
 * (a smoothed value, so that one slow callback does not count as overload).
 * The timer does not keep the process alive.
 */
export class LagSampler {
  #lag = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 20) {}

  start(): this {
    let expected = performance.now() + this.intervalMs;
    this.#timer = setInterval(() => {
      const t = performance.now();
      const late = Math.max(0, t - expected);
      expected = t + this.intervalMs;
      this.#lag = this.#lag * 0.8 + late * 0.2;
    }, this.intervalMs);
    this.#timer.unref();
    return this;
  }

  lagMs(): number {
    return this.#lag;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * The event loop's busy share between two readings (performance.eventLoopUtilization): the
 * time it ran callbacks over the time elapsed. Near 1 the process is saturated — datagrams
 * wait in its socket's buffer — even while the lag stays low (the loop drains datagrams in
 * batches, its timers still running between them: docs/performance.md, session 10).
 */
export class LoopBusy {
  #last = performance.eventLoopUtilization();

  /** The busy share since the last call (or since construction). */
  busy(): number {
    const now = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(now, this.#last);
    this.#last = now;
    return d.utilization;
  }
}

/** The queue toward the core, as the gate reads it. */
export interface CoreQueue {
  stack: SipStack;
  /** Requests sent that have no final answer yet. */
  pending(): number;
  /**
   * How long a request sent now would wait for its answer, ms (the gate calls
   * it once per step): the requests pending over the rate the core answered
   * at lately (Little's law). Not the mean wait of the answers just received:
   * that lags by the wait itself, and a gate steering on it overshoots (a
   * simulation, test/sbc/overload-sim.test.ts, had 32 % of requests wait past
   * T1). 0 when the queue emptied during the interval (the core keeps up);
   * none answered while some wait: at least how long the core has been
   * silent, so that a stalled core reads as slow rather than as calm.
   */
  delayMs(): number;
  /** The last value delayMs() returned (for metrics; does not start a new interval). */
  lastDelayMs(): number;
  /** Answers per ms lately, as the last delayMs() smoothed it (the rate of the last busy spell while idle). */
  answerRate(): number;
}

/**
 * Counts the requests sent through `stack` that have no final answer yet
 * (the queue toward the core the gate bounds) and times their answers.
 * INVITEs are left out: a call rings for as long as a person takes to
 * answer, which is no load.
 */
export function countingPending(stack: SipStack, now: () => number = () => performance.now()): CoreQueue {
  let n = 0;
  let answered = 0;
  /** Since when requests have been waiting with none answered (the later of the last answer and the queue's last start). */
  let silentSince = now();
  let drained = false;
  let lastRead = now();
  /** Answers per ms, smoothed over the readings. */
  let rate = 0;
  let last = 0;
  const done = (): void => {
    n--;
    answered++;
    silentSince = now();
    if (n === 0) drained = true;
  };
  const sent = (): void => {
    if (n === 0) {
      silentSince = now();
      // nothing waited or was answered since the last reading: that time was idle, and the rate is
      // measured from here (an interval counted from before a pause reads the core as slow)
      if (answered === 0) lastRead = silentSince;
    }
    n++;
  };
  return {
    stack: {
      ...stack,
      send(req, o) {
        if (req.method === 'INVITE') return stack.send(req, o);
        sent();
        const p = stack.send(req, o);
        p.then(done, done);
        return p;
      },
    },
    pending: () => n,
    delayMs() {
      const t = now();
      const r = answered / Math.max(1, t - lastRead);
      // idle (nothing waited, nothing answered): the rate of the last busy spell still stands. A core
      // answering faster than that now is no slower than it shows: the rate of a lighter spell, kept
      // over a pause, read a sudden rise in load as a long wait (every run of bench:compare began by
      // refusing ~2 % of its registrations for 1.5 s, at a pending count the core cleared in 140 ms).
      if (answered > 0 || n > 0) rate = rate === 0 ? r : Math.max(r, (rate + r) / 2);
      if (n === 0 || drained) last = 0;
      else {
        last = rate > 0 ? n / rate : t - silentSince;
        if (answered === 0) last = Math.max(last, t - silentSince);
      }
      lastRead = t;
      answered = 0;
      drained = false;
      return last;
    },
    lastDelayMs: () => last,
    answerRate: () => rate,
  };
}

/** The gate's figures in the process's registry (docs/metrics.md). */
export function overloadMetrics(registry: MetricsRegistry, gate: OverloadGate, queue: Pick<CoreQueue, 'pending' | 'lastDelayMs'>): void {
  const follow = (name: string, help: string, label: string, keys: readonly string[], read: () => Record<string, number>): void =>
    registry.follow(registry.counter(name, help, { labelNames: [label] }), label, read, { keys });
  follow('keyswitch_sbc_overload_rejected_total', 'New requests from terminals the SBC answered 503 with Retry-After because it was overloaded, by kind (new-dialog, new-registration).', 'kind', ['new-dialog', 'new-registration'], () => gate.stats().rejected);
  follow('keyswitch_sbc_overload_signal_steps_total', 'Steps of the overload gate (100 ms each) at which a signal said overloaded, by signal (pending: the queue toward the softswitch half full; lag: the event loop late; delay: the softswitch slow to answer; busy: the event loop saturated).', 'signal', OVERLOAD_SIGNALS, () => gate.stats().overloadedSteps);
  registry.gauge('keyswitch_sbc_overload_reject_fraction', 'The fraction (0 to 1) of new requests the SBC refuses now for overload.').onCollect((g) => g.set(gate.stats().rejectFraction));
  registry.gauge('keyswitch_sbc_core_pending', 'Requests the SBC sent to the softswitch that have no final answer yet (INVITEs excepted).').onCollect((g) => g.set(queue.pending()));
  registry.gauge('keyswitch_sbc_core_delay_seconds', 'How long a request the SBC sends to the softswitch now would wait (pending over the recent rate of answers, INVITEs excepted), as the overload gate last read it.').onCollect((g) => g.set(queue.lastDelayMs() / 1000));
}
