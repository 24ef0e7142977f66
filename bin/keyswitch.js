#!/usr/bin/env node
// Runs the compiled JavaScript (dist/, made by `npm run build`; what the image
// ships) when it is there, else the TypeScript sources through tsx's loader, so
// that a fresh clone needs no build step. KEYSWITCH_FROM_SOURCE=1 forces the
// sources even beside a build (the tests set it: they test src/, not a dist/
// that may be older).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
if (process.env.KEYSWITCH_FROM_SOURCE !== '1' && existsSync(compiled)) {
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
