import { describe, expect, it } from 'vitest';
import { SignatureGuard } from '../../src/sbc/signing/guard.js';
import { Clock } from './flow.js';

describe('signature-failure guard', () => {
  it('blocks at the 10th failure within 1 s, alerts once, and lifts the block after blockMs', () => {
    const clock = new Clock();
    const alerts: unknown[] = [];
    const warned: unknown[] = [];
    const g = new SignatureGuard({ now: clock.now, blockMs: 30_000, onAlert: (a) => alerts.push(a), logger: { warn: ((o: unknown) => warned.push(o)) as never } });
    for (let i = 0; i < 9; i++) {
      expect(g.fail('198.51.100.7')).toBe(false);
      clock.advance(100);
    }
    expect(g.isBlocked('198.51.100.7')).toBe(false);
    expect(g.fail('198.51.100.7')).toBe(true); // 10 failures within 900 ms
    expect(g.isBlocked('198.51.100.7')).toBe(true);
    for (let i = 0; i < 50; i++) expect(g.fail('198.51.100.7')).toBe(false); // already blocked: no new alert
    expect(alerts).toEqual([{ source: '198.51.100.7', failures: 10, windowMs: 1000, blockedUntil: clock.now() + 30_000 }]);
    expect(warned).toHaveLength(1);
    expect(g.blockedSources()).toEqual(['198.51.100.7']);
    clock.advance(30_000);
    expect(g.isBlocked('198.51.100.7')).toBe(false);
    expect(g.stats()).toMatchObject({ blocked: 0, blocks: 1 });
  });

  it('a slow trickle of failures never blocks (sliding window)', () => {
    const clock = new Clock();
    const g = new SignatureGuard({ now: clock.now });
    for (let i = 0; i < 100; i++) {
      expect(g.fail('192.0.2.1')).toBe(false);
      clock.advance(120); // 10 failures span 1080 ms
    }
    expect(g.isBlocked('192.0.2.1')).toBe(false);
    // ... but a burst at the end does.
    let blocked = false;
    for (let i = 0; i < 10; i++) blocked = g.fail('192.0.2.1') || blocked;
    expect(blocked).toBe(true);
  });

  it('counts each source on its own', () => {
    const clock = new Clock();
    const g = new SignatureGuard({ now: clock.now, threshold: 3 });
    g.fail('a');
    g.fail('b');
    g.fail('a');
    g.fail('b');
    expect(g.isBlocked('a') || g.isBlocked('b')).toBe(false);
    expect(g.fail('a')).toBe(true);
    expect(g.isBlocked('b')).toBe(false);
    expect(g.unblock('a')).toBe(true);
    expect(g.isBlocked('a')).toBe(false);
  });

  it('keeps memory bounded under a spray of source addresses', () => {
    const clock = new Clock();
    const g = new SignatureGuard({ now: clock.now, threshold: 2, maxSources: 100, maxBlocked: 50 });
    for (let i = 0; i < 10_000; i++) g.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(g.stats().tracked).toBeLessThanOrEqual(100);
    for (let i = 0; i < 200; i++) {
      g.fail(`b${i}`);
      g.fail(`b${i}`);
    }
    const s = g.stats();
    expect(s.blocks).toBe(200);
    expect(s.blocked).toBeLessThanOrEqual(50);
    // The most recent blocks are the ones kept.
    expect(g.isBlocked('b199')).toBe(true);
    expect(g.isBlocked('b0')).toBe(false);
  });

  it('rejects nonsensical settings', () => {
    expect(() => new SignatureGuard({ threshold: 0 })).toThrow();
    expect(() => new SignatureGuard({ windowMs: 0 })).toThrow();
  });
});
