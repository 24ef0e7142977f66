import { describe, expect, it } from 'vitest';
import { Lockout } from '../../src/auc/lockout.js';

// The AuC remembers, per IDc, that it holds no failure record ("clean"), so a success need not delete one.
// The marks are bounded (100,000); past the bound the oldest go in one batch, and a forgotten mark
// costs one needless delete, never a failure record left in place.
describe('AuC lockout: clean marks', () => {
  const policy = { threshold: 5, windowSeconds: 60, baseSeconds: 60, maxSeconds: 3600 };
  const repo = { get: async () => undefined, put: async () => undefined, clear: async () => undefined };

  it('at the bound forgets the oldest sixteenth at once and keeps the rest', () => {
    const lk = new Lockout(repo as never, policy, () => 0);
    const id = (i: number) => `t${i}@lab.example`;
    for (let i = 0; i < 100_000; i++) lk.statusFrom(id(i), undefined, true);
    expect(lk.clearNeeded(id(0))).toBe(false);
    lk.statusFrom(id(100_000), undefined, true); // over the bound: 6,250 oldest forgotten
    expect(lk.clearNeeded(id(0))).toBe(true);
    expect(lk.clearNeeded(id(6_249))).toBe(true);
    expect(lk.clearNeeded(id(6_250))).toBe(false);
    expect(lk.clearNeeded(id(100_000))).toBe(false);
  });

  it('a failure record read for an IDc drops its mark', () => {
    const lk = new Lockout(repo as never, policy, () => 0);
    lk.statusFrom('a@lab.example', undefined, true);
    expect(lk.clearNeeded('a@lab.example')).toBe(false);
    lk.statusFrom('a@lab.example', { idc: 'a@lab.example', count: 1, windowStart: 0, lockouts: 0, lockedUntil: 0 }, true);
    expect(lk.clearNeeded('a@lab.example')).toBe(true);
  });
});
