/**
 * Vitest global setup: compiles src/ and migrations/ once per run into
 * .test-dist-<pid>/ (beside dist/, so the code finds config/, dictionaries/ and
 * console/ the same way), and the keyswitch processes the tests spawn run
 * that instead of transpiling every module through tsx at each start (about
 * a second of CPU per spawn, hundreds of spawns per run). Built from the
 * sources of this run, so it is never older than what the tests import.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, TEST_DIST, TEST_DIST_PREFIX } from './test-dist.js';

export default function setup(): () => void {
  const root = ROOT;
  removeAbandoned();
  rmSync(TEST_DIST, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // Type errors are `npm run typecheck`'s to report; here only the output matters.
  spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', TEST_DIST, '--sourceMap', 'false'], { stdio: 'ignore' });
  if (!existsSync(join(TEST_DIST, 'src', 'cli', 'main.js'))) throw new Error(`could not compile the sources into ${TEST_DIST}`);
  return () => rmSync(TEST_DIST, { recursive: true, force: true });
}

/** Copies left by runs that were killed (their process is gone). */
function removeAbandoned(): void {
  for (const name of readdirSync(ROOT)) {
    if (!name.startsWith(TEST_DIST_PREFIX)) continue;
    const pid = Number(name.slice(TEST_DIST_PREFIX.length));
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    rmSync(join(ROOT, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
