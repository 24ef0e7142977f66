import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/helpers/sequencer.js';
import { TEST_DIST } from './test/helpers/test-dist.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most of a file's time is spent waiting on the processes it spawns (keyswitch up, terminals, sipp,
    // tshark) and on protocol timers, so one worker more than the cores keeps them busy; vitest's
    // default (cores - 1) ran the files one at a time on a 2-core CI machine. `--maxWorkers=N` overrides.
    maxWorkers: availableParallelism() + 1,
    // longest files first (test/helpers/sequencer.ts), so the run does not end on one started last
    sequence: { sequencer: LongestFirst },
    // bin/keyswitch.js runs dist/ when built; the tests test the sources of this
    // run, compiled once into .test-dist-<pid>/ by the global setup (KEYSWITCH_DIST).
    globalSetup: ['test/helpers/build-for-tests.ts'],
    env: { KEYSWITCH_FROM_SOURCE: '1', KEYSWITCH_DIST: TEST_DIST },
    reporters: ['default'],
  },
});
