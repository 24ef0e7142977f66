/**
 * The SBC's overload gate in front of a core of fixed capacity, in virtual
 * time (no clock, no sockets: a deterministic simulation, not a timing test).
 * Digest registrations arrive at 3× what the core can finish: each is a first
 * REGISTER (new work, which the gate may refuse 503) and, once that is
 * answered, a REGISTER with credentials (work in progress, always admitted).
 * The core serves one request at a time in arrival order. What must hold
 * (issue 9's overload target, docs/sbc.md "Overload"):
 * - goodput stays at ≥ 90 % of capacity while 3× is offered;
 * - few requests wait past T1 (500 ms) at the core — the wait after which
 *   terminals and the SBC retransmit, the start of a retransmission storm;
 * - once the overload stops, the gate admits everything again within seconds.
 */
import { describe, expect, it } from 'vitest';
import { countingPending, OverloadGate } from '../../src/sbc/overload.js';
import { parseMessage, type SipMessage, type SipRequest, type SipResponse, type SipStack } from '../../src/sip/index.js';
import type { MessageSource } from '../../src/sip/transport/types.js';

const SRC = { address: '192.0.2.10', port: 5060, protocol: 'udp', transport: {} } as unknown as MessageSource;

/** Parsed once: the gate decides on what a message says, and every first REGISTER says the same but its branch. */
function firstRegister(i: number): SipMessage {
  const r = parseMessage(Buffer.from(
    `REGISTER sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-sim-${i}\r\nFrom: <sip:u@lab.example>;tag=a\r\nTo: <sip:u@lab.example>\r\nCall-ID: sim-${i}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n`,
  ));
  if (!r.ok) throw new Error('did not parse');
  return r.message;
}

interface Outcome {
  /** Registrations completed per second while the overload was offered, over what the core can finish. */
  goodputShare: number;
  /** Requests that waited at the core longer than T1, over all it served. */
  waitedPastT1: number;
  /** Seconds after the overload stopped until a whole second went by with nothing refused. */
  recoveredAfterS: number;
  refused: number;
}

/**
 * `capacity`: requests/s the core serves (a registration takes two);
 * `factor`: registrations offered, as a multiple of what the core finishes.
 */
async function simulate(o: { capacity: number; factor: number; seconds: number; delayHighMs: number; maxPending: number; maxWaitMs?: number }): Promise<Outcome> {
  const serviceMs = 1000 / o.capacity;
  const regCapacity = o.capacity / 2;
  let now = 0;
  // the core: requests queued (arrival time, the answer to give), served in order
  const queue: Array<{ at: number; second: boolean; answer: (r: SipResponse) => void }> = [];
  const core = { send: (req: SipRequest) => new Promise<SipResponse>((answer) => queue.push({ at: now, second: req.method === 'SECOND', answer })) } as unknown as SipStack;
  // the SBC's queue toward the core, as in src/sbc/run.ts: the gate reads it
  const link = countingPending(core, () => now);
  const gate = new OverloadGate(
    { maxPending: o.maxPending, maxWaitMs: o.maxWaitMs ?? 0, lagHighMs: 0, delayHighMs: o.delayHighMs, retryAfterSec: 5, rememberMs: 1 },
    { pending: link.pending, lagMs: () => 0, delayMs: link.delayMs, answerRate: link.answerRate },
    () => now,
  );
  const FIRST = { method: 'REGISTER' } as SipRequest;
  const SECOND = { method: 'SECOND' } as SipRequest;
  const ANSWER = { status: 200 } as SipResponse;
  let busyUntil = 0;
  let completed = 0;
  let served = 0;
  let late = 0;
  let refused = 0;
  let lastRefusedAt = -1;
  const offeredMs = o.seconds * 1000;
  const endMs = offeredMs + 20_000;
  const interval = 1000 / (regCapacity * o.factor);
  let nextArrival = 0;
  const msg = firstRegister(0);
  for (now = 0; now < endMs; now += 1) {
    // the core finishes what it can in this millisecond
    let answered = false;
    while (queue.length > 0 && Math.max(busyUntil, queue[0]!.at) + serviceMs <= now) {
      const r = queue.shift()!;
      busyUntil = Math.max(busyUntil, r.at) + serviceMs;
      served++;
      if (busyUntil - r.at > 500) late++;
      r.answer(ANSWER);
      answered = true;
      if (r.second) {
        if (busyUntil <= offeredMs) completed++;
      } else void link.stack.send(SECOND); // the terminal answers the challenge at once
    }
    if (answered) await new Promise((r) => setImmediate(r));
    // the offered load; 1x after the overload, to see it recover
    const step = now < offeredMs ? interval : interval * o.factor;
    while (nextArrival <= now) {
      nextArrival += step;
      if (gate.decide(msg, SRC).kind === 'reject') {
        refused++;
        lastRefusedAt = now;
      } else void link.stack.send(FIRST);
    }
  }
  return {
    goodputShare: completed / (regCapacity * o.seconds),
    waitedPastT1: late / served,
    recoveredAfterS: Math.max(0, (lastRefusedAt - offeredMs) / 1000),
    refused,
  };
}

describe('overload: a core of fixed capacity offered 3x, in virtual time', () => {
  for (const capacity of [400, 2000]) {
    it(`holds goodput near capacity without long waits at the core, and recovers (core of ${capacity} requests/s)`, async () => {
      const r = await simulate({ capacity, factor: 3, seconds: 30, delayHighMs: 200, maxPending: 1000 });
      if (process.env.OVERLOAD_SIM_PRINT) console.log(capacity, r);
      expect(r.refused).toBeGreaterThan(0);
      expect(r.goodputShare).toBeGreaterThanOrEqual(0.9);
      // the first second of the overload, while the refused share climbs (5 % per 100 ms), is most of it: 5 % at 400/s, under 1 % at 2,000/s
      // (32 % when the gate steered on the mean wait of the answers received, which lags by the wait itself)
      expect(r.waitedPastT1).toBeLessThan(0.1);
      expect(r.recoveredAfterS).toBeLessThan(5);
    });
  }

  // the queue bounded in time (overload.sbcMaxWaitMs) instead of by a count that a fast core fills in a few tens of ms
  for (const capacity of [400, 8000]) {
    it(`holds the same with the queue toward the core bounded in time (core of ${capacity} requests/s)`, async () => {
      const r = await simulate({ capacity, factor: 3, seconds: 30, delayHighMs: 200, maxPending: 1000, maxWaitMs: 400 });
      if (process.env.OVERLOAD_SIM_PRINT) console.log(capacity, 'maxWaitMs 400', r);
      expect(r.refused).toBeGreaterThan(0);
      expect(r.goodputShare).toBeGreaterThanOrEqual(0.9);
      expect(r.waitedPastT1).toBeLessThan(0.1);
      expect(r.recoveredAfterS).toBeLessThan(5);
    });
  }
});
