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
    // Much of a file's time is spent waiting on the processes it spawns (keyswitch up, terminals, sipp,
    // tshark) and on protocol timers; vitest's default (cores - 1) ran the files one at a time on a
    // 2-core CI machine. One file per core: more starved the timing-bound tests (floods, overload,
    // retransmission counts, daemon start) on a loaded 2-core machine. `npm test -- --maxWorkers=N` overrides.
    maxWorkers: availableParallelism(),
    // longest files first (test/helpers/sequencer.ts), so the run does not end on one started last
    sequence: { sequencer: LongestFirst },
    // bin/keyswitch.js runs dist/ when built; the tests test the sources of this
    // run, compiled once into .test-dist-<pid>/ by the global setup (KEYSWITCH_DIST).
    globalSetup: ['test/helpers/build-for-tests.ts'],
    env: { KEYSWITCH_FROM_SOURCE: '1', KEYSWITCH_DIST: TEST_DIST },
    reporters: ['default'],
  },
});
