import { defineConfig } from 'vitest/config';
import { TEST_DIST } from './test/helpers/test-dist.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // bin/keyswitch.js runs dist/ when built; the tests test the sources of this
    // run, compiled once into .test-dist-<pid>/ by the global setup (KEYSWITCH_DIST).
    globalSetup: ['test/helpers/build-for-tests.ts'],
    env: { KEYSWITCH_FROM_SOURCE: '1', KEYSWITCH_DIST: TEST_DIST },
    reporters: ['default'],
  },
});
