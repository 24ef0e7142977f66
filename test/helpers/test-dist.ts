import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where this test run's compiled copy of src/ lives (test/helpers/build-for-tests.ts):
 * `.test-dist-<pid>/` at the root (one level down, as dist/ is, so the code finds
 * config/, dictionaries/ and console/). One directory per run — the vitest main
 * process's pid; workers get it through KEYSWITCH_DIST — so two runs from one
 * checkout do not rebuild under each other.
 */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_DIST_PREFIX = '.test-dist-';
export const TEST_DIST = process.env.KEYSWITCH_DIST ?? join(ROOT, `${TEST_DIST_PREFIX}${process.pid}`);
