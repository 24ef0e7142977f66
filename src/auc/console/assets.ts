import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console's templates and static files live in the top-level `console/`
 * folder, beside `src/` (and beside `dist/` once compiled): found by walking
 * up from this file, so the same code runs from the sources or the build.
 */
export function consoleDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from, i = 0; i < 8; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'console', 'views', 'layout.eta'))) return join(dir, 'console');
  }
  throw new Error(`console templates not found above ${from}`);
}

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The static files, a fixed list read once: nothing a request names is ever
 * turned into a path. uPlot is vendored (console/static/vendor/uplot, MIT,
 * its LICENSE beside it), not fetched at build time.
 */
const FILES: Record<string, string> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
  'uPlot.iife.min.js': 'text/javascript; charset=utf-8',
};
const WHERE: Record<string, string> = { 'uPlot.min.css': 'vendor/uplot', 'uPlot.iife.min.js': 'vendor/uplot' };

export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [name, type] of Object.entries(FILES)) {
    out.set(name, { body: readFileSync(join(dir, 'static', WHERE[name] ?? '', name)), type });
  }
  return out;
}
