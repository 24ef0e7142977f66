/** The codec stands alone: nothing under src/h323 imports keyswitch's flow, roles or adapters (src/lib, which imports only Node, is neutral). */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve('src/h323');
const LIB = resolve('src/lib');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

it('src/h323 imports only itself, node built-ins and src/lib', () => {
  const found = files(ROOT);
  expect(found.length).toBeGreaterThan(10);
  for (const f of found) {
    for (const [, spec] of readFileSync(f, 'utf8').matchAll(/from '([^']+)'/g)) {
      if (spec!.startsWith('node:')) continue;
      expect(spec!.startsWith('.'), `${relative(ROOT, f)} imports ${spec}`).toBe(true);
      const target = resolve(join(f, '..'), spec!);
      expect(target.startsWith(ROOT + '/') || target.startsWith(LIB + '/'), `${relative(ROOT, f)} imports ${spec}`).toBe(true);
    }
  }
  // The generic PER layer knows nothing of H.323 either.
  for (const f of files(join(ROOT, 'per'))) expect(readFileSync(f, 'utf8')).not.toMatch(/from '\.\.\//);
});
