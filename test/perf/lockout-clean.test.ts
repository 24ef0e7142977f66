import { expect, it } from 'vitest';
import { Lockout } from '../../src/auc/lockout.js';
import type { FailureRepo, FailureState } from '../../src/store/failures.js';

/** An in-memory failure store that counts the clearing DELETEs. */
function memRepo() {
  const rows = new Map<string, FailureState>();
  let clears = 0;
  const repo = {
    get: async (idc: string) => rows.get(idc),
    put: async (s: FailureState) => void rows.set(s.idc, { ...s }),
    clear: async (idc: string) => {
      clears++;
      rows.delete(idc);
    },
  } as unknown as FailureRepo;
  return { repo, rows, clears: () => clears };
}

const policy = { threshold: 3, windowSeconds: 300, baseSeconds: 60, maxSeconds: 3600 };

it('a success after a clean challenge writes nothing; after a failure it clears the record', async () => {
  let now = 1_000_000;
  const m = memRepo();
  const l = new Lockout(m.repo, policy, () => now);

  expect((await l.status('a@lab.example')).locked).toBe(false);
  await l.succeed('a@lab.example');
  expect(m.clears()).toBe(0);

  await l.fail('a@lab.example');
  expect(m.rows.get('a@lab.example')?.count).toBe(1);
  await l.succeed('a@lab.example');
  expect(m.clears()).toBe(1);
  expect(m.rows.has('a@lab.example')).toBe(false);

  // a failure counted elsewhere (another AuC instance) is seen at the next challenge and cleared on success
  m.rows.set('a@lab.example', { idc: 'a@lab.example', count: 2, windowStart: now, lockouts: 0, lockedUntil: 0 });
  await l.status('a@lab.example');
  await l.succeed('a@lab.example');
  expect(m.rows.has('a@lab.example')).toBe(false);

  // without a recent clean reading (no challenge, or long ago) the success clears as before
  await l.succeed('b@lab.example');
  expect(m.clears()).toBe(3);
  await l.status('c@lab.example');
  now += 120_000;
  await l.succeed('c@lab.example');
  expect(m.clears()).toBe(4);
});

it('failures still lock and a success still unlocks the count', async () => {
  const now = 5_000_000;
  const m = memRepo();
  const l = new Lockout(m.repo, policy, () => now);
  await l.status('x@lab.example');
  await l.fail('x@lab.example');
  await l.fail('x@lab.example');
  const s = await l.fail('x@lab.example');
  expect(s.locked).toBe(true);
  expect((await l.status('x@lab.example')).locked).toBe(true);
});
