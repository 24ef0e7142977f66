/**
 * Vitest global setup: compiles src/ and migrations/ once per run into
 * .test-dist-<pid>/ (beside dist/, so the code finds config/, dictionaries/ and
 * console/ the same way), and the keyswitch processes the tests spawn run
 * that instead of transpiling every module through tsx at each start (about
 * a second of CPU per spawn, hundreds of spawns per run). Built from the
 * sources of this run, so it is never older than what the tests import.
 *
 * Transpiled file by file by esbuild (what tsx runs the sources with), not by
 * tsc: about a second instead of 15–20 s of CPU before the first file could
 * start, on every `vitest run`. Types are `npm run typecheck`'s to check;
 * `isolatedModules` (tsconfig.json) keeps every file transpilable alone.
 * `npm run build` (the shipped dist/) still compiles with tsc.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT, TEST_DIST, TEST_DIST_PREFIX } from './test-dist.js';

export default async function setup(): Promise<() => void> {
  const root = ROOT;
  removeAbandoned();
  rmSync(TEST_DIST, { recursive: true, force: true });
  const entryPoints = [...sources(join(root, 'src')), ...sources(join(root, 'migrations'))];
  // as tsconfig.build.json emits: ES2022 modules beside each other, imports as written
  await build({
    entryPoints, outdir: TEST_DIST, outbase: root, format: 'esm', platform: 'node', target: 'es2022',
    bundle: false, sourcemap: false, logLevel: 'silent', tsconfig: join(root, 'tsconfig.build.json'),
  });
  if (!existsSync(join(TEST_DIST, 'src', 'cli', 'main.js'))) throw new Error(`could not compile the sources into ${TEST_DIST}`);
  return () => rmSync(TEST_DIST, { recursive: true, force: true });
}

/** The .ts files under `dir` (declarations aside). */
function sources(dir: string, into: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, into);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) into.push(path);
  }
  return into;
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
