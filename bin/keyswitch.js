#!/usr/bin/env node
// Runs the compiled JavaScript (dist/, made by `npm run build`; what the image
// ships) when it is there, else the TypeScript sources through tsx's loader, so
// that a fresh clone needs no build step. KEYSWITCH_FROM_SOURCE=1 forces the
// sources even beside a build (the tests set it: they test src/, not a dist/
// that may be older). KEYSWITCH_DIST names another compiled tree, built from
// the current sources: the test run compiles one into .test-dist/ so that the
// processes it spawns start without transpiling.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
const testDist = process.env.KEYSWITCH_DIST ? pathToFileURL(`${process.env.KEYSWITCH_DIST}/src/cli/main.js`) : undefined;
if (testDist && existsSync(testDist)) {
  await import(testDist.href);
} else if (process.env.KEYSWITCH_FROM_SOURCE !== '1' && existsSync(compiled)) {
  await import(compiled.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('keyswitch: no compiled code in dist/ and no tsx to run the sources: run `npm run build`, or `npm install` with the dev dependencies\n');
    process.exit(1);
  }
  tsx.register();
  await import('../src/cli/main.ts');
}
