import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the test run's compiled copy of src/ lives (test/helpers/build-for-tests.ts). */
export const TEST_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.test-dist');
