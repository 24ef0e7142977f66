import { describe, expect, it } from 'vitest';
import { GatewayGate } from '../../src/sbc/gateway-gate.js';

/** The gateway relays' gate: the share of new registrations refused follows how long datagrams wait in the socket. */

function lab(waitHighMs: number) {
  let t = 0;
  let wait = 0;
  const gate = new GatewayGate({ waitHighMs }, () => wait, () => t);
  const offer = (n: number) => {
    let refused = 0;
    for (let i = 0; i < n; i++) if (gate.refuse()) refused++;
    return refused;
  };
  /** One 100-ms step at which the socket's wait reads `w`, seen by the next registration offered. */
  const step = (w: number) => {
    wait = w;
    t += 100;
    return offer(1);
  };
  /** `ms` pass with nothing offered; the socket's wait then reads `w`. */
  const idle = (ms: number, w: number) => {
    wait = w;
    t += ms;
  };
  return { gate, offer, step, idle, share: () => gate.stats().refusedShare };
}

describe('GatewayGate', () => {
  it('grows the share the more the longer datagrams wait, holds it while a growth cannot show yet, and shrinks it once they stop', () => {
    const { gate, offer, step, share } = lab(100);
    step(20);
    expect(offer(100)).toBe(0);
    step(150); // 1.5 times the threshold: 1.5 steps of 5 %
    expect(share()).toBeCloseTo(0.075);
    step(150); // a wait of 150 ms has not passed since: what is read was queued before the share grew
    expect(share()).toBeCloseTo(0.075);
    step(150);
    expect(share()).toBeCloseTo(0.15);
    step(400); // held again for 150 ms
    step(400); // four times the threshold or more: four steps at once
    expect(share()).toBeCloseTo(0.35);
    expect(offer(100)).toBe(35); // spread evenly
    // under the threshold but over half of it: the share holds
    for (let i = 0; i < 5; i++) step(70);
    expect(share()).toBeCloseTo(0.35);
    // well under: 2.5 % less every step
    for (let i = 0; i < 12; i++) step(10);
    expect(share()).toBeCloseTo(0.05);
    step(10);
    expect(share()).toBeCloseTo(0.025);
    step(10);
    expect(share()).toBe(0);
    expect(offer(100)).toBe(0);
    expect(gate.stats().overloadedSteps).toBe(5);
  });

  it('a quiet spell after overload shrinks the share by every step it lasted', () => {
    const { offer, step, share, idle } = lab(100);
    step(500); // five times the threshold: four steps at once, the most
    expect(share()).toBeCloseTo(0.2);
    // no registration offered for 600 ms, the socket calm: the next one finds the share six steps smaller
    idle(600, 0);
    expect(offer(20)).toBe(1);
    expect(share()).toBeCloseTo(0.05);
  });

  it('off at 0: never refuses, whatever the wait', () => {
    const { gate, offer, step } = lab(0);
    for (let i = 0; i < 20; i++) {
      step(5000);
      expect(offer(10)).toBe(0);
    }
    expect(gate.stats()).toMatchObject({ refusedShare: 0, overloadedSteps: 0 });
  });
});
