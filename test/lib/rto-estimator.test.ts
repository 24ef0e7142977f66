import { describe, expect, it } from 'vitest';
import { RtoEstimator } from '../../src/lib/rto-estimator.js';

describe('RtoEstimator', () => {
  it('is the configured first interval until answers are measured later than it', () => {
    const e = new RtoEstimator(200, 4000);
    expect(e.rtoMs).toBe(200);
    for (let i = 0; i < 50; i++) e.sample(2 + (i % 3));
    expect(e.rtoMs).toBe(200);
  });

  it('stretches while answers come late, stays under the ceiling, and falls back once they come quickly', () => {
    const e = new RtoEstimator(200, 4000);
    for (let i = 0; i < 20; i++) e.sample(500);
    expect(e.rtoMs).toBeGreaterThan(500);
    expect(e.rtoMs).toBeLessThan(1000);
    for (let i = 0; i < 20; i++) e.sample(30_000);
    expect(e.rtoMs).toBe(4000);
    for (let i = 0; i < 200; i++) e.sample(3);
    expect(e.rtoMs).toBe(200);
  });

  it('ignores samples that are no delay (negative, NaN, infinite)', () => {
    const e = new RtoEstimator(200, 4000);
    for (const x of [-5, Number.NaN, Number.POSITIVE_INFINITY]) e.sample(x);
    expect(e.rtoMs).toBe(200);
  });
});
