#!/usr/bin/env node
// `npm run build`: compiles src/ and migrations/ into dist/ (tsconfig.build.json),
// starting from an empty dist/ so that no file of a deleted source lingers.
// Templates and static files stay where they are (config/, dictionaries/,
// console/ beside dist/): the code finds them by walking up from itself.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
