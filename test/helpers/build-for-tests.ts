/**
 * Vitest global setup: compiles src/ and migrations/ once per run into
 * .test-dist/ (beside dist/, so the code finds config/, dictionaries/ and
 * console/ the same way), and the keyswitch processes the tests spawn run
 * that instead of transpiling every module through tsx at each start (about
 * a second of CPU per spawn, hundreds of spawns per run). Built from the
 * sources of this run, so it is never older than what the tests import.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TEST_DIST } from './test-dist.js';

export default function setup(): void {
  const root = join(TEST_DIST, '..');
  rmSync(TEST_DIST, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // Type errors are `npm run typecheck`'s to report; here only the output matters.
  spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', TEST_DIST, '--sourceMap', 'false'], { stdio: 'ignore' });
  if (!existsSync(join(TEST_DIST, 'src', 'cli', 'main.js'))) throw new Error(`could not compile the sources into ${TEST_DIST}`);
}
