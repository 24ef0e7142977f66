import fc from 'fast-check';
import { expect, it } from 'vitest';
import { MAX_GRANTS, MemoryChallengeStore } from '../src/store/volatile/challenges.js';

const T0 = 1_900_000_000_000;
const TTL = 5_000;

/**
 * The challenge store's rules written the plain way: one list in issue order, Rands and grants alike, each
 * counted until it expires or the bound's cut takes it; the store keeps grants in another shape and must agree.
 */
class ModelStore {
  entries: { seq: number; kind: 'ks1' | 'digest'; rand: string; idc: string; idsp: string; requester: string; createdAt: number; expiresAt: number; used: boolean; cut: boolean }[] = [];
  lastSweep = 0;
  seq = 0;
  constructor(private readonly now: () => number, private readonly max: number) {}
  get size(): number {
    return this.entries.length;
  }
  sweep(t: number): number {
    this.lastSweep = t;
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.expiresAt > t);
    return before - this.entries.length;
  }
  before(t: number): void {
    if (t - this.lastSweep >= 1000) this.sweep(t);
    if (this.size >= this.max) this.entries.splice(0, this.size - this.max + 1 + (this.max >> 4));
  }
  add(rand: string, idc: string, idsp: string, requester: string): boolean {
    if (this.entries.some((e) => e.kind === 'ks1' && e.rand === rand)) return false;
    const t = this.now();
    this.before(t);
    this.entries.push({ seq: ++this.seq, kind: 'ks1', rand, idc, idsp, requester, createdAt: t, expiresAt: t + TTL, used: false, cut: false });
    return true;
  }
  get(rand: string) {
    const e = this.entries.find((x) => x.kind === 'ks1' && x.rand === rand);
    return e && { rand, idc: e.idc, idsp: e.idsp, requester: e.requester, used: e.used, expiresAt: e.expiresAt, createdAt: e.createdAt, kind: 'ks1' };
  }
  consume(rand: string, idc: string, idsp: string): boolean {
    const e = this.entries.find((x) => x.kind === 'ks1' && x.rand === rand);
    if (!e || e.used || e.idc !== idc || e.idsp !== idsp || e.expiresAt <= this.now()) return false;
    e.used = true;
    return true;
  }
  grant(idc: string, requester: string): void {
    const t = this.now();
    this.before(t);
    const unused = this.entries.filter((e) => e.kind === 'digest' && e.idc === idc && e.requester === requester && !e.used && !e.cut);
    if (unused.length >= MAX_GRANTS) unused[0]!.cut = true;
    this.entries.push({ seq: ++this.seq, kind: 'digest', rand: '', idc, idsp: '', requester, createdAt: t, expiresAt: t + TTL, used: false, cut: false });
  }
  consumeGrant(idc: string, requester: string): boolean {
    const t = this.now();
    let best: (typeof this.entries)[number] | undefined;
    for (const e of this.entries) {
      if (e.kind !== 'digest' || e.idc !== idc || e.requester !== requester || e.used || e.cut || e.expiresAt <= t) continue;
      if (!best || e.expiresAt < best.expiresAt) best = e;
    }
    if (!best) return false;
    best.used = true;
    return true;
  }
}

type Op =
  | { op: 'tick'; ms: number }
  | { op: 'add'; rand: number; idc: number; idsp: number; rq: number }
  | { op: 'get'; rand: number }
  | { op: 'consume'; rand: number; idc: number; idsp: number }
  | { op: 'grant'; idc: number; rq: number; times: number }
  | { op: 'use'; idc: number; rq: number }
  | { op: 'purge' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 2_500 }) }),
  fc.record({ op: fc.constant('add' as const), rand: fc.nat(30), idc: fc.nat(2), idsp: fc.nat(1), rq: fc.nat(1) }),
  fc.record({ op: fc.constant('get' as const), rand: fc.nat(30) }),
  fc.record({ op: fc.constant('consume' as const), rand: fc.nat(30), idc: fc.nat(2), idsp: fc.nat(1) }),
  fc.record({ op: fc.constant('grant' as const), idc: fc.nat(2), rq: fc.nat(1), times: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 80 })) }),
  fc.record({ op: fc.constant('use' as const), idc: fc.nat(2), rq: fc.nat(1) }),
  fc.record({ op: fc.constant('purge' as const) }),
);

it('keeps Rands and Digest grants as one list in issue order would: single use, expiry, the per-requester and the store bound', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(16, 40, 200), fc.array(opArb, { maxLength: 250 }), async (max, ops) => {
      let now = T0;
      const s = new MemoryChallengeStore(() => now, max);
      const m = new ModelStore(() => now, max);
      for (const o of ops) {
        switch (o.op) {
          case 'tick':
            now += o.ms;
            break;
          case 'add': {
            const rand = `r${o.rand}`;
            const added = m.add(rand, `i${o.idc}`, `s${o.idsp}`, `q${o.rq}`);
            const p = s.add({ rand, idc: `i${o.idc}`, idsp: `s${o.idsp}`, expiresAt: now + TTL, requester: `q${o.rq}` });
            if (added) await p;
            else await expect(p).rejects.toThrow();
            break;
          }
          case 'get':
            expect(await s.get(`r${o.rand}`)).toEqual(m.get(`r${o.rand}`));
            break;
          case 'consume':
            expect(await s.consume(`r${o.rand}`, `i${o.idc}`, `s${o.idsp}`)).toBe(m.consume(`r${o.rand}`, `i${o.idc}`, `s${o.idsp}`));
            break;
          case 'grant':
            for (let i = 0; i < o.times; i++) {
              await s.grantDigest(`i${o.idc}`, `q${o.rq}`, now + TTL);
              m.grant(`i${o.idc}`, `q${o.rq}`);
            }
            break;
          case 'use':
            expect(await s.consumeDigestGrant(`i${o.idc}`, `q${o.rq}`)).toBe(m.consumeGrant(`i${o.idc}`, `q${o.rq}`));
            break;
          case 'purge':
            expect(await s.purgeExpired()).toBe(m.sweep(now));
            break;
        }
        expect(s.size).toBe(m.size);
        expect(s.size).toBeLessThanOrEqual(max);
      }
    }),
    { numRuns: 300 },
  );
});

it('at its bound cuts the oldest first whichever their kind, and a grant cut is not used', async () => {
  const now = T0;
  const s = new MemoryChallengeStore(() => now, 32);
  await s.grantDigest('old@lab.example', 'radius:10.0.0.1', now + 30_000);
  await s.add({ rand: 'r0', idc: 'a@lab.example', idsp: 's', expiresAt: now + 30_000 });
  for (let i = 1; i < 30; i++) await s.add({ rand: `r${i}`, idc: 'a@lab.example', idsp: 's', expiresAt: now + 30_000 });
  await s.grantDigest('new@lab.example', 'radius:10.0.0.1', now + 30_000);
  expect(s.size).toBe(32);
  // the 33rd found 32 held: the 3 oldest went (the grant, r0, r1), down to 15/16 of the bound, then it was added
  await s.add({ rand: 'r31', idc: 'a@lab.example', idsp: 's', expiresAt: now + 30_000 });
  expect(s.size).toBe(30);
  expect(await s.consumeDigestGrant('old@lab.example', 'radius:10.0.0.1')).toBe(false);
  expect(await s.get('r1')).toBeUndefined();
  expect(await s.get('r2')).toBeDefined();
  expect(await s.consumeDigestGrant('new@lab.example', 'radius:10.0.0.1')).toBe(true);
  expect(await s.consumeDigestGrant('new@lab.example', 'radius:10.0.0.1')).toBe(false);
});

it('a grant stays single-use across many requests, sweeps and the log being compacted', async () => {
  let now = T0;
  const s = new MemoryChallengeStore(() => now);
  // 40 s of 200 Digest requests/s from 50 phones: every grant used once, the log swept and compacted on the way
  for (let i = 0; i < 8_000; i++) {
    now = T0 + i * 5;
    const idc = `u${i % 50}@lab.example`;
    await s.grantDigest(idc, 'radius:10.0.0.1', now + 30_000);
    expect(await s.consumeDigestGrant(idc, 'radius:10.0.0.1')).toBe(true);
    expect(await s.consumeDigestGrant(idc, 'radius:10.0.0.1')).toBe(false);
  }
  // used grants count until they expire (30 s of them, and up to 1 s more until the next sweep), then nothing is left
  expect(s.size).toBeGreaterThanOrEqual(6_000);
  expect(s.size).toBeLessThanOrEqual(6_200);
  now += 30_000;
  await s.purgeExpired();
  expect(s.size).toBe(0);
  expect(await s.consumeDigestGrant('u0@lab.example', 'radius:10.0.0.1')).toBe(false);
  await s.grantDigest('u0@lab.example', 'radius:10.0.0.1', now + 30_000);
  expect(await s.consumeDigestGrant('u0@lab.example', 'radius:10.0.0.1')).toBe(true);
});

it("a used grant's expiry or cut takes no later grant of the same requester and IDc with it", async () => {
  let now = T0;
  const s = new MemoryChallengeStore(() => now, 8);
  await s.grantDigest('a@lab.example', 'radius:10.0.0.1', now + TTL);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(true);
  now += 1_000;
  await s.grantDigest('a@lab.example', 'radius:10.0.0.1', now + TTL);
  await s.grantDigest('a@lab.example', 'radius:10.0.0.1', now + TTL);
  // the used grant expires and is swept (before the next insert): the two unused ones stay
  now += 4_500;
  await s.grantDigest('b@lab.example', 'radius:10.0.0.1', now + TTL);
  expect(s.size).toBe(3);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(true);
  // the bound cuts the used one (now the oldest): the last unused one stays
  for (let i = 0; i < 5; i++) await s.add({ rand: `r${i}`, idc: 'c@lab.example', idsp: 's', expiresAt: now + TTL });
  expect(s.size).toBe(8);
  await s.add({ rand: 'r5', idc: 'c@lab.example', idsp: 's', expiresAt: now + TTL });
  expect(s.size).toBe(8);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(true);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(false);
  expect(await s.consumeDigestGrant('b@lab.example', 'radius:10.0.0.1')).toBe(true);
});
