import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // bin/keyswitch.js runs dist/ when built; the tests test the sources (docs/deploy.md).
    env: { KEYSWITCH_FROM_SOURCE: '1' },
    reporters: ['default'],
  },
});
