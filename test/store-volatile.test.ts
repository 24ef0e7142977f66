import { expect, it } from 'vitest';
import { MemoryChallengeStore } from '../src/store/volatile/challenges.js';

const T0 = 1_900_000_000_000;

it('a Rand is consumed once, only for its IDc and IDsp, and not after it expires', async () => {
  let now = T0;
  const s = new MemoryChallengeStore(() => now);
  await s.add({ rand: 'r1', idc: 'a', idsp: 's', expiresAt: now + 30_000, requester: 'radius:10.0.0.1' });
  await s.add({ rand: 'r2', idc: 'a', idsp: 's', expiresAt: now + 30_000 });
  await expect(s.add({ rand: 'r1', idc: 'b', idsp: 's', expiresAt: now + 30_000 })).rejects.toThrow();
  expect(await s.get('r1')).toMatchObject({ idc: 'a', idsp: 's', used: false, requester: 'radius:10.0.0.1', kind: 'ks1' });
  expect(await s.consume('r1', 'b', 's')).toBe(false);
  expect(await s.consume('r1', 'a', 'other')).toBe(false);
  const both = await Promise.all([s.consume('r1', 'a', 's'), s.consume('r1', 'a', 's')]);
  expect(both.filter(Boolean)).toHaveLength(1);
  expect(await s.get('r1')).toMatchObject({ used: true });
  now += 30_000;
  expect(await s.consume('r2', 'a', 's')).toBe(false);
  expect(await s.consume('nope', 'a', 's')).toBe(false);
});

it('a Digest grant entitles its requester to one report for its IDc, and no one else', async () => {
  let now = T0;
  const s = new MemoryChallengeStore(() => now);
  await s.grantDigest('a@lab.example', 'radius:10.0.0.1', now + 30_000);
  await s.grantDigest('a@lab.example', 'radius:10.0.0.1', now + 30_000);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.2')).toBe(false);
  expect(await s.consumeDigestGrant('b@lab.example', 'radius:10.0.0.1')).toBe(false);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(true);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(true);
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(false);
  await s.grantDigest('a@lab.example', 'radius:10.0.0.1', now + 30_000);
  now += 30_000;
  expect(await s.consumeDigestGrant('a@lab.example', 'radius:10.0.0.1')).toBe(false);
});

it('stays bounded under a flood of challenges: the oldest go first, expired ones are swept', async () => {
  let now = T0;
  const s = new MemoryChallengeStore(() => now, 1000);
  for (let i = 0; i < 5000; i++) await s.add({ rand: `f${i}`, idc: 'victim', idsp: 's', expiresAt: now + 30_000 });
  expect(s.size).toBeLessThanOrEqual(1000);
  expect(s.size).toBeGreaterThan(900);
  expect(await s.get('f0')).toBeUndefined();
  expect(await s.consume('f4999', 'victim', 's')).toBe(true);
  for (let i = 0; i < 5000; i++) await s.grantDigest('victim', 'flooder', now + 30_000);
  expect(s.size).toBeLessThanOrEqual(1000);
  // the legitimate requester's grant, made after the flood, still works
  await s.grantDigest('victim', 'softswitch', now + 30_000);
  expect(await s.consumeDigestGrant('victim', 'softswitch')).toBe(true);
  now += 31_000;
  const held = s.size;
  expect(await s.purgeExpired()).toBe(held);
  expect(s.size).toBe(0);
  expect(await s.consumeDigestGrant('victim', 'flooder')).toBe(false);
});

it('at its bound drops the oldest sixteenth at once, then holds the newest', async () => {
  const now = T0;
  const s = new MemoryChallengeStore(() => now, 1000);
  for (let i = 0; i <= 1000; i++) await s.add({ rand: `c${i}`, idc: 'a@lab.example', idsp: 's', expiresAt: now + 30_000 });
  // the 1,001st found 1,000 held: 63 oldest went (down to 15/16 of the bound), then it was added
  expect(s.size).toBe(938);
  expect(await s.get('c62')).toBeUndefined();
  expect(await s.get('c63')).toBeDefined();
  expect(await s.consume('c1000', 'a@lab.example', 's')).toBe(true);
});
