/** The softswitch's location cache at its bound: the oldest sixteenth is read again, the rest still cached. */
import { describe, expect, it } from 'vitest';
import { LocationCache } from '../../src/softswitch/location-cache.js';
import type { SipBinding } from '../../src/store/bindings.js';

describe('LocationCache at its bound', () => {
  it('a lookup of a new AoR at the bound drops the oldest sixteenth at once; an AoR read again after its REGISTER is the youngest', async () => {
    const reads = new Map<string, number>();
    const none: SipBinding[] = [];
    const c = new LocationCache({ current: async (aor) => (reads.set(aor, (reads.get(aor) ?? 0) + 1), none) }, { ttlMs: 60_000, maxEntries: 32, now: () => 0 });
    for (let i = 0; i < 32; i++) await c.lookup(`u${i}@lab.example`);
    c.invalidate('u0@lab.example'); // a REGISTER for u0: read again next time, the youngest entry
    await c.lookup('u0@lab.example');
    expect(c.stats().size).toBe(32);
    await c.lookup('flood@lab.example'); // a new AoR: u1 and u2 go (32 >> 4)
    expect(c.stats().size).toBe(31);
    for (const i of [0, 3, 31]) await c.lookup(`u${i}@lab.example`);
    expect([0, 3, 31].map((i) => reads.get(`u${i}@lab.example`))).toEqual([2, 1, 1]); // cached
    await c.lookup('u1@lab.example');
    await c.lookup('u2@lab.example');
    expect(reads.get('u1@lab.example')).toBe(2); // read again
    expect(reads.get('u2@lab.example')).toBe(2);
    expect(c.stats().size).toBe(31); // u1 filled it again; u2 came at the bound, and u3 and u4 went
  });
});
