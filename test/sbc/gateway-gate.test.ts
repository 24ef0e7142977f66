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
  return { gate, offer, step: (w: number) => ((wait = w), (t += 100)) };
}

describe('GatewayGate', () => {
  it('refuses a growing share while datagrams wait past the threshold, and none once they stop', () => {
    const { gate, offer, step } = lab(100);
    step(20);
    expect(offer(100)).toBe(0);
    for (let i = 0; i < 4; i++) {
      step(250);
      offer(1);
    }
    expect(gate.stats().refusedShare).toBeCloseTo(0.2);
    step(250);
    expect(offer(100)).toBe(25); // one in four, spread evenly
    expect(gate.stats().overloadedSteps).toBe(5);
    for (let i = 0; i < 5; i++) {
      step(10);
      offer(1);
    }
    expect(gate.stats().refusedShare).toBe(0);
    expect(offer(100)).toBe(0);
  });

  it('a quiet spell after overload shrinks the share by every step it lasted', () => {
    const { gate, offer, step } = lab(100);
    for (let i = 0; i < 10; i++) {
      step(300);
      offer(1);
    }
    expect(gate.stats().refusedShare).toBeCloseTo(0.5);
    step(0);
    step(0);
    step(0); // three steps with no registration offered: one reading, three steps' shrink
    offer(1);
    expect(gate.stats().refusedShare).toBeCloseTo(0.35);
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
