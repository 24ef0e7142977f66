/**
 * One lab per test file (test/scale-out/lab.ts): skipped with one clear
 * message where it cannot run, opened in beforeAll, closed in afterAll, and
 * every process's output printed when a test fails.
 */
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { PG_URL } from '../helpers/engines.js';
import { Lab, labUnavailable, type LabOptions } from './lab.js';

const base = await labUnavailable(PG_URL);
const withRedis = base ?? (await labUnavailable(PG_URL, { redis: true }));
for (const skip of [base, withRedis]) {
  if (skip && process.env.KEYSWITCH_TEST_REQUIRE_PG === '1' && skip.startsWith('PostgreSQL')) throw new Error(skip);
}

/** describe() with a lab of `hosts`, made ready by `setup` (roles started, terminals provisioned). */
export function describeLab(title: string, hosts: string[], setup: (lab: Lab) => Promise<void>, body: (lab: () => Lab) => void, o: Partial<LabOptions> = {}): void {
  const skip = hosts.includes('redis') ? withRedis : base;
  if (skip) console.warn(`[keyswitch tests] scale-out lab SKIPPED: ${skip}`);
  describe.skipIf(skip !== undefined)(title, () => {
    let lab: Lab | undefined;
    beforeAll(async () => {
      lab = await Lab.open({ pgUrl: PG_URL, hosts, relaxed: true, ...o });
      try {
        await setup(lab);
      } catch (err) {
        console.error(lab.logs());
        throw err;
      }
    }, 180_000);
    afterEach((ctx) => {
      if (ctx.task.result?.state === 'fail' && lab) console.error(`[${ctx.task.name}] lab output:${lab.logs()}`);
    });
    afterAll(async () => {
      await lab?.close();
    }, 60_000);
    body(() => {
      if (!lab) throw new Error('lab not open');
      return lab;
    });
  });
}
