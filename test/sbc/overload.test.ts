/**
 * The SBC's overload gate (src/sbc/overload.ts) driven step by step on a
 * clock of its own: what counts as new work and what as work in progress,
 * the bounded queue toward the core, the refused fraction growing under lag
 * and shrinking after it, and retransmissions of admitted requests passing.
 */
import { describe, expect, it } from 'vitest';
import { classify, countingPending, LoopBusy, OverloadGate, type SheddingEvent } from '../../src/sbc/overload.js';
import type { SipRequest, SipResponse, SipStack } from '../../src/sip/index.js';
import { parseMessage, type SipMessage } from '../../src/sip/index.js';
import type { MessageSource } from '../../src/sip/transport/types.js';

const SRC = { address: '192.0.2.10', port: 5060, protocol: 'udp', transport: {} } as unknown as MessageSource;
const PSK_SRC = { ...SRC, protocol: 'tls', pskIdentity: 'alice@lab.example' } as unknown as MessageSource;

let n = 0;
function request(method: string, o: { toTag?: boolean; headers?: string[]; branch?: string } = {}): SipMessage {
  const branch = o.branch ?? `z9hG4bK-t${++n}`;
  const text = [
    `${method} sip:lab.example SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=${branch}`,
    'Max-Forwards: 70',
    'From: <sip:alice@lab.example>;tag=a1',
    `To: <sip:${method === 'REGISTER' ? 'alice' : 'bob'}@lab.example>${o.toTag ? ';tag=b1' : ''}`,
    `Call-ID: c${n}@192.0.2.10`,
    `CSeq: 1 ${method}`,
    'Contact: <sip:alice@192.0.2.10:5060>',
    ...(o.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.message;
}

function response(status: number): SipMessage {
  const r = parseMessage(Buffer.from(`SIP/2.0 ${status} X\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-r\r\nFrom: <sip:a@lab.example>;tag=1\r\nTo: <sip:b@lab.example>;tag=2\r\nCall-ID: r@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`));
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.message;
}

const DIGEST = 'Authorization: Digest username="alice@lab.example", realm="lab.example", nonce="abc", uri="sip:lab.example", response="0123456789abcdef0123456789abcdef"';
const KS1_S1 = 'Authorization: KS1 idc="alice@lab.example", n1="AAAAAAAAAAAAAAAAAAAAAA", ts="1"';
const KS1_S7 = 'Authorization: KS1 idc="alice@lab.example", n2="AAAAAAAAAAAAAAAAAAAAAA", response="AAAA"';

/** A gate on a clock the test moves, with signals the test sets. */
function rig(o: { maxPending?: number; lagHighMs?: number; delayHighMs?: number } = {}) {
  let t = 1_000_000;
  const sig = { pending: 0, lag: 0, delay: 0 };
  const events: SheddingEvent[] = [];
  const gate = new OverloadGate(
    { maxPending: o.maxPending ?? 100, lagHighMs: o.lagHighMs ?? 50, delayHighMs: o.delayHighMs ?? 0, retryAfterSec: 7, increase: 0.1, decrease: 0.02 },
    { pending: () => sig.pending, lagMs: () => sig.lag, delayMs: () => sig.delay },
    () => t,
    (e) => events.push(e),
  );
  return { gate, sig, events, advance: (ms: number) => (t += ms) };
}

describe('overload: what is new work and what is work in progress', () => {
  it('classifies dialog-forming requests, first REGISTERs and s1 as new; credentials, s7, refreshes, in-dialog, ACK/CANCEL/BYE and responses as in progress', () => {
    expect(classify(request('INVITE'), SRC)).toBe('new-dialog');
    expect(classify(request('SUBSCRIBE'), SRC)).toBe('new-dialog');
    expect(classify(request('MESSAGE'), SRC)).toBe('new-dialog');
    expect(classify(request('OPTIONS'), SRC)).toBe('new-dialog');
    expect(classify(request('REGISTER'), SRC)).toBe('new-registration');
    expect(classify(request('REGISTER', { headers: [KS1_S1] }), SRC)).toBe('new-registration');

    expect(classify(request('REGISTER', { headers: [DIGEST] }), SRC)).toBe('in-progress');
    expect(classify(request('REGISTER', { headers: [KS1_S7] }), SRC)).toBe('in-progress');
    expect(classify(request('REGISTER', { headers: ['KS-HMAC: spi=1, seq=2, mac=AAAA'] }), SRC)).toBe('in-progress');
    expect(classify(request('REGISTER'), PSK_SRC)).toBe('in-progress');
    expect(classify(request('INVITE', { toTag: true }), SRC)).toBe('in-progress');
    expect(classify(request('SUBSCRIBE', { toTag: true }), SRC)).toBe('in-progress');
    for (const m of ['ACK', 'CANCEL', 'BYE', 'PRACK', 'UPDATE', 'INFO', 'NOTIFY']) expect(classify(request(m), SRC), m).toBe('in-progress');
    expect(classify(response(200), SRC)).toBe('in-progress');
  });
});

describe('overload: the gate', () => {
  it('admits everything while calm', () => {
    const { gate, advance } = rig();
    for (let i = 0; i < 50; i++) {
      expect(gate.decide(request('REGISTER'), SRC)).toEqual({ kind: 'pass' });
      expect(gate.decide(request('INVITE'), SRC)).toEqual({ kind: 'pass' });
      advance(10);
    }
    expect(gate.stats()).toMatchObject({ rejectFraction: 0, overloaded: false, admitted: 100, rejected: { 'new-dialog': 0, 'new-registration': 0 } });
  });

  it('refuses every new request with 503 and Retry-After once the queue toward the core is full, and serves work in progress meanwhile', () => {
    const { gate, sig } = rig({ maxPending: 10 });
    sig.pending = 10;
    expect(gate.decide(request('REGISTER'), SRC)).toEqual({ kind: 'reject', status: 503, reason: 'Service Unavailable', retryAfter: 7 });
    expect(gate.decide(request('REGISTER', { headers: [KS1_S1] }), SRC)).toMatchObject({ kind: 'reject', status: 503 });
    expect(gate.decide(request('INVITE'), SRC)).toMatchObject({ kind: 'reject', status: 503 });
    expect(gate.decide(request('REGISTER', { headers: [DIGEST] }), SRC)).toEqual({ kind: 'pass' });
    expect(gate.decide(request('REGISTER', { headers: [KS1_S7] }), SRC)).toEqual({ kind: 'pass' });
    expect(gate.decide(request('BYE', { toTag: true }), SRC)).toEqual({ kind: 'pass' });
    expect(gate.decide(response(180), SRC)).toEqual({ kind: 'pass' });
    sig.pending = 9;
    expect(gate.decide(request('REGISTER'), SRC)).toEqual({ kind: 'pass' });
    expect(gate.stats().rejected).toEqual({ 'new-dialog': 1, 'new-registration': 2 });
  });

  it('lets a retransmission of an admitted request through (the transaction layer absorbs it) while new ones are refused', () => {
    const { gate, sig, advance } = rig({ maxPending: 10 });
    const first = request('REGISTER', { branch: 'z9hG4bK-admitted' });
    expect(gate.decide(first, SRC)).toEqual({ kind: 'pass' });
    sig.pending = 10;
    advance(500);
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-admitted' }), SRC)).toEqual({ kind: 'pass' });
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-other' }), SRC)).toMatchObject({ kind: 'reject' });
    // not for ever: a request long gone is new again
    advance(20_000);
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-admitted' }), SRC)).toMatchObject({ kind: 'reject' });
  });

  it('under lag refuses a growing fraction of new requests, step by step, and admits the rest; recovers when the lag is gone', () => {
    const { gate, sig, advance } = rig({ lagHighMs: 50 });
    sig.lag = 80;
    const refusedPerStep: number[] = [];
    for (let step = 0; step < 12; step++) {
      advance(100);
      let refused = 0;
      for (let i = 0; i < 100; i++) if (gate.decide(request('REGISTER'), SRC).kind === 'reject') refused++;
      refusedPerStep.push(refused);
    }
    // +0.1 per step: 10 %, 20 %, … until every new request is refused
    expect(refusedPerStep.slice(0, 5)).toEqual([10, 20, 30, 40, 50]);
    expect(refusedPerStep.at(-1)).toBe(100);
    expect(gate.stats()).toMatchObject({ overloaded: true, rejectFraction: 1 });
    expect(gate.stats().overloadedSteps).toMatchObject({ lag: 12, pending: 0, delay: 0 });
    // in-progress work is never refused, even at 100 %
    expect(gate.decide(request('REGISTER', { headers: [DIGEST] }), SRC)).toEqual({ kind: 'pass' });

    sig.lag = 1;
    advance(100);
    expect(gate.stats()).toMatchObject({ overloaded: false });
    expect(gate.stats().rejectFraction).toBeCloseTo(0.98, 5);
    // -0.02 per step: 5 s of calm brings it back to 0
    advance(5000);
    expect(gate.stats().rejectFraction).toBe(0);
    for (let i = 0; i < 100; i++) expect(gate.decide(request('INVITE'), SRC).kind).toBe('pass');
  });

  it('tells when shedding starts (with the signals that started it) and when it ends (how long, how many refused), once each', () => {
    const { gate, sig, events, advance } = rig({ maxPending: 100, lagHighMs: 50, delayHighMs: 200 });
    sig.pending = 60;
    sig.delay = 250;
    advance(100);
    for (let i = 0; i < 100; i++) gate.decide(request('REGISTER'), SRC);
    advance(100);
    for (let i = 0; i < 100; i++) gate.decide(request('REGISTER'), SRC);
    expect(events).toEqual([{ kind: 'start', signals: ['pending', 'delay'], pending: 60, bound: 100, lagMs: 0, delayMs: 250, busy: 0 }]);
    sig.pending = 0;
    sig.delay = 0;
    advance(100);
    expect(events).toHaveLength(1);
    // 10 % then 20 %, taken off 2 % a step: ten steps of calm end it
    advance(1000);
    gate.stats();
    expect(events.slice(1)).toEqual([{ kind: 'end', durationMs: 1200, refused: 30 }]);
  });

  it('counts a queue half full toward the core as the early sign of overload', () => {
    const { gate, sig, advance } = rig({ maxPending: 100, lagHighMs: 0 });
    sig.pending = 49;
    advance(100);
    expect(gate.stats().overloaded).toBe(false);
    sig.pending = 50;
    advance(100);
    expect(gate.stats()).toMatchObject({ overloaded: true });
    expect(gate.stats().rejectFraction).toBeCloseTo(0.1, 5);
    // the step that said so is counted under the signal that did
    expect(gate.stats().overloadedSteps).toEqual({ pending: 1, lag: 0, delay: 0, busy: 0 });
  });

  it('keeps at most maxRemembered admitted requests (bounded memory under a flood)', () => {
    let t = 0;
    const gate = new OverloadGate({ maxPending: 0, lagHighMs: 0, retryAfterSec: 1, maxRemembered: 100 }, { pending: () => 0, lagMs: () => 0 }, () => t);
    for (let i = 0; i < 10_000; i++) {
      t += 1;
      gate.decide(request('REGISTER', { branch: `z9hG4bK-f${i}` }), SRC);
    }
    expect(gate.stats()).toMatchObject({ admitted: 10_000, remembered: 100 });
    // and expired ones go: 10 s later one new request leaves only itself
    t += 10_001;
    gate.decide(request('REGISTER'), SRC);
    expect(gate.stats().remembered).toBe(1);
  });

  it('a branch admitted again after its time is remembered anew: sweeping its old entry keeps the new one', () => {
    const { gate, sig, advance } = rig({ maxPending: 10 });
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-again' }), SRC)).toEqual({ kind: 'pass' });
    advance(10_001);
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-again' }), SRC)).toEqual({ kind: 'pass' });
    // its first entry, expired, was swept when it came again; later admissions sweep nothing live
    for (let i = 0; i < 5; i++) {
      advance(1);
      expect(gate.decide(request('REGISTER', { branch: `z9hG4bK-later${i}` }), SRC)).toEqual({ kind: 'pass' });
    }
    expect(gate.stats().remembered).toBe(6);
    sig.pending = 10;
    advance(5_000);
    // its retransmission still passes while new requests are refused
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-again' }), SRC)).toEqual({ kind: 'pass' });
    expect(gate.decide(request('REGISTER', { branch: 'z9hG4bK-new' }), SRC)).toMatchObject({ kind: 'reject' });
    // and everything goes once its time is over
    sig.pending = 0;
    advance(10_000);
    gate.decide(request('REGISTER', { branch: 'z9hG4bK-last' }), SRC);
    expect(gate.stats().remembered).toBe(1);
  });

  it('sweeps a long run of admissions in order, holding only the last rememberMs of them', () => {
    let t = 0;
    const gate = new OverloadGate({ maxPending: 0, lagHighMs: 0, retryAfterSec: 1, rememberMs: 1_000 }, { pending: () => 0, lagMs: () => 0 }, () => t);
    for (let i = 0; i < 20_000; i++) {
      t += 1;
      gate.decide(request('REGISTER', { branch: `z9hG4bK-s${i}` }), SRC);
      if (i % 997 === 0 && i >= 1_000) expect(gate.stats().remembered).toBe(1_000);
    }
  });

  it('counts a slow core as overload (its queue delay, whatever its capacity), and recovers once it answers in time', () => {
    const { gate, sig, advance } = rig({ maxPending: 1000, lagHighMs: 0, delayHighMs: 200 });
    sig.pending = 120; // far from half of 1000: the pending bound alone would not see it
    sig.delay = 199;
    advance(100);
    expect(gate.stats()).toMatchObject({ overloaded: false, rejectFraction: 0 });
    sig.delay = 450;
    for (let i = 0; i < 3; i++) advance(100) && gate.stats();
    expect(gate.stats().overloaded).toBe(true);
    expect(gate.stats().rejectFraction).toBeCloseTo(0.3, 5);
    let refused = 0;
    for (let i = 0; i < 100; i++) if (gate.decide(request('REGISTER'), SRC).kind === 'reject') refused++;
    expect(refused).toBe(30);
    sig.delay = 20;
    advance(100);
    expect(gate.stats()).toMatchObject({ overloaded: false });
    advance(5000);
    expect(gate.stats().rejectFraction).toBe(0);
  });

  it('with maxWaitMs bounds the queue toward the core in time: the bound is what the core answers in that long, never less than maxPending', () => {
    let t = 0;
    const sig = { pending: 0, rate: 0 };
    const gate = new OverloadGate(
      { maxPending: 100, maxWaitMs: 400, lagHighMs: 0, delayHighMs: 0, retryAfterSec: 1, increase: 0.1, decrease: 0.1 },
      { pending: () => sig.pending, lagMs: () => 0, delayMs: () => 0, answerRate: () => sig.rate },
      () => t,
    );
    // a core answering 5 per ms: 2,000 may wait (400 ms of its answers), not 100
    sig.rate = 5;
    t += 100;
    sig.pending = 999;
    expect(gate.decide(request('REGISTER'), SRC)).toEqual({ kind: 'pass' });
    expect(gate.stats()).toMatchObject({ overloaded: false, rejectFraction: 0 });
    // half of it is the early sign, as with a count
    sig.pending = 1000;
    t += 100;
    expect(gate.stats()).toMatchObject({ overloaded: true });
    sig.pending = 2000;
    expect(gate.decide(request('REGISTER'), SRC)).toMatchObject({ kind: 'reject', status: 503 });
    expect(gate.decide(request('REGISTER', { headers: [DIGEST] }), SRC)).toEqual({ kind: 'pass' });
    // the core slows down to 0.1 per ms: the bound falls back to maxPending, not to 40
    sig.rate = 0.1;
    sig.pending = 99;
    t += 100;
    gate.stats();
    sig.pending = 100;
    expect(gate.decide(request('REGISTER'), SRC)).toMatchObject({ kind: 'reject' });
  });

  /** A gate whose loop busy share the test sets, with the core-delay signal. */
  function busyRig(o: { busyHigh?: number } = {}) {
    let t = 0;
    const sig = { pending: 0, delay: 0, busy: 0.5 };
    const gate = new OverloadGate(
      { maxPending: 1000, lagHighMs: 0, delayHighMs: 200, retryAfterSec: 1, increase: 0.1, decrease: 0.05, ...o },
      { pending: () => sig.pending, lagMs: () => 0, delayMs: () => sig.delay, busy: () => sig.busy },
      () => t,
    );
    const step = (n = 1) => {
      for (let i = 0; i < n; i++) {
        t += 100;
        gate.stats();
      }
    };
    return { gate, sig, step };
  }

  it('with busyHigh counts its own loop busy that long, for busySteps steps in a row, as overload; a shorter spell is not', () => {
    const { gate, sig, step } = busyRig({ busyHigh: 0.98 });
    sig.busy = 1;
    step(4);
    expect(gate.stats()).toMatchObject({ overloaded: false, rejectFraction: 0 });
    sig.busy = 0.5; // the run is broken
    step();
    sig.busy = 0.99;
    step(4);
    expect(gate.stats()).toMatchObject({ overloaded: false, rejectFraction: 0 });
    step();
    expect(gate.stats()).toMatchObject({ overloaded: true });
    expect(gate.stats().rejectFraction).toBeCloseTo(0.1, 5);
    step(3);
    expect(gate.stats().rejectFraction).toBeCloseTo(0.4, 5);
    // in-progress work passes meanwhile
    expect(gate.decide(request('REGISTER', { headers: [DIGEST] }), SRC)).toEqual({ kind: 'pass' });
    sig.busy = 0.7;
    step();
    expect(gate.stats()).toMatchObject({ overloaded: false });
    expect(gate.stats().rejectFraction).toBeCloseTo(0.35, 5);
    // without busyHigh a saturated loop alone is no overload
    const off = busyRig();
    off.sig.busy = 1;
    off.step(20);
    expect(off.gate.stats()).toMatchObject({ overloaded: false, rejectFraction: 0 });
  });

  it('without maxWaitMs keeps the count bound whatever the core\'s rate', () => {
    let t = 0;
    const sig = { pending: 0 };
    const gate = new OverloadGate({ maxPending: 100, lagHighMs: 0, delayHighMs: 0, retryAfterSec: 1 }, { pending: () => sig.pending, lagMs: () => 0, delayMs: () => 0, answerRate: () => 5 }, () => t);
    t += 100;
    gate.stats();
    sig.pending = 100;
    expect(gate.decide(request('REGISTER'), SRC)).toMatchObject({ kind: 'reject' });
  });

  it('spreads the 503s\' Retry-After over [r, 2r] in turn, so that the terminals refused together do not come back together', () => {
    const { gate, sig } = rig({ maxPending: 10 });
    sig.pending = 10;
    const seen: number[] = [];
    for (let i = 0; i < 16; i++) {
      const v = gate.decide(request('REGISTER'), SRC);
      if (v.kind !== 'reject') throw new Error('not refused');
      seen.push(v.retryAfter!);
    }
    expect(seen).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 7, 8, 9, 10, 11, 12, 13, 14]);
  });
});

describe('overload: the loop\'s busy share', () => {
  it('reads near 1 after a callback that kept the loop busy, lower after time spent waiting, and near 1 again after the next busy spell', async () => {
    const spin = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        // busy
      }
    };
    const loop = new LoopBusy();
    spin(60);
    expect(loop.busy()).toBeGreaterThan(0.5);
    // long enough that what else a loaded machine runs in this worker meanwhile stays a small share
    await new Promise((r) => setTimeout(r, 600));
    const b = loop.busy();
    expect(b).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(0.5);
    // each reading covers only the time since the last: a share since the start would now read under 0.5
    spin(60);
    expect(loop.busy()).toBeGreaterThan(0.5);
  });
});

describe('overload: the queue toward the core', () => {
  /** A stack whose send() answers when the test says, on a clock the test moves. */
  function core() {
    let t = 0;
    const waiting: Array<(r: SipResponse) => void> = [];
    const stack = { send: () => new Promise<SipResponse>((r) => waiting.push(r)) } as unknown as SipStack;
    const q = countingPending(stack, () => t);
    const req = (method = 'REGISTER') => ({ method }) as SipRequest;
    const answer = async (n: number) => {
      for (const r of waiting.splice(0, n)) r({ status: 200 } as SipResponse);
      await new Promise((r) => setImmediate(r));
    };
    return { q, req, answer, advance: (ms: number) => (t += ms) };
  }

  it('counts what waits and estimates the wait of a request sent now: pending over the rate of answers; 0 once the queue drains; a silent core reads as slow', async () => {
    const { q, req, answer, advance } = core();
    expect(q.delayMs()).toBe(0);
    for (let i = 0; i < 40; i++) void q.stack.send(req());
    void q.stack.send(req('INVITE')); // a call rings as long as a person takes: not counted
    expect(q.pending()).toBe(40);
    advance(100);
    await answer(10); // 10 answers in 100 ms: 0.1 per ms; 30 still waiting
    expect(q.pending()).toBe(30);
    expect(q.delayMs()).toBeCloseTo(300, 5);
    expect(q.lastDelayMs()).toBeCloseTo(300, 5);
    advance(100);
    await answer(20); // 0.2 per ms now: faster than the last reading, taken as it is; 10 waiting
    expect(q.delayMs()).toBeCloseTo(10 / 0.2, 5);
    expect(q.answerRate()).toBeCloseTo(0.2, 5);
    advance(100);
    await answer(5); // 0.05 per ms: slower, smoothed with the last reading (0.125); 5 waiting
    expect(q.delayMs()).toBeCloseTo(5 / 0.125, 5);
    expect(q.answerRate()).toBeCloseTo(0.125, 5);
    advance(100);
    await answer(6); // the queue drained (the INVITE's answer is not counted): the core keeps up
    expect(q.pending()).toBe(0);
    expect(q.delayMs()).toBe(0);
    // after a pause of 2 s, 50 answered in the 100 ms since the queue started again: 0.5 per ms, not 50 over 2.1 s
    advance(2000);
    for (let i = 0; i < 60; i++) void q.stack.send(req());
    advance(100);
    await answer(50);
    expect(q.delayMs()).toBeCloseTo(10 / 0.5, 5);
    expect(q.answerRate()).toBeCloseTo(0.5, 5);
    await answer(10);
    advance(100);
    expect(q.delayMs()).toBe(0);
    // stalled: a request waits and nothing is answered for 700 ms
    void q.stack.send(req());
    advance(700);
    expect(q.delayMs()).toBeGreaterThanOrEqual(700);
  });
});
