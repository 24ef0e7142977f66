import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** Some packages (sip, radius) have no licence field; their LICENSE file says it. */
function licenceFromFile(dir: string): string {
  const f = readdirSync(dir).find((n) => /^licen[cs]e/i.test(n));
  if (!f) return 'UNKNOWN';
  const text = readFileSync(join(dir, f), 'utf8');
  if (/GNU (AFFERO |LESSER )?GENERAL PUBLIC LICENSE/i.test(text)) return 'GPL (file)';
  if (/Permission is hereby granted, free of charge/.test(text)) return 'MIT';
  if (/Redistribution and use in source and binary forms/.test(text)) return /endorse or promote/.test(text) ? 'BSD-3-Clause' : 'BSD-2-Clause';
  return 'UNKNOWN';
}

// The project is Apache-2.0: nothing it ships (production dependencies) may be
// under a licence that would bind the whole to copyleft terms.
it('ships only dependencies under licences compatible with Apache-2.0', () => {
  const tree = JSON.parse(execFileSync('npm', ['ls', '--omit=dev', '--all', '--json', '--long'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 }));
  const bad: string[] = [];
  const seen = new Set<string>();
  const walk = (deps: Record<string, { path?: string; version?: string; dependencies?: Record<string, unknown> }> | undefined) => {
    for (const [name, d] of Object.entries(deps ?? {})) {
      if (!d.path || seen.has(d.path)) continue;
      seen.add(d.path);
      const pkg = JSON.parse(readFileSync(join(d.path, 'package.json'), 'utf8'));
      const lic = String(typeof pkg.license === 'object' ? pkg.license?.type : (pkg.license ?? licenceFromFile(d.path)));
      // A dual licence with a permissive option (e.g. node-forge "(BSD-3-Clause OR GPL-2.0)") is fine.
      const options = lic.replace(/[()]/g, '').split(/\s+OR\s+/i);
      if (!options.some((o) => /^(MIT|ISC|BSD-2-Clause|BSD-3-Clause|Apache-2\.0|0BSD|BlueOak-1\.0\.0|CC0-1\.0|Unlicense|Python-2\.0)$/i.test(o.trim()))) {
        bad.push(`${name}@${d.version}: ${lic}`);
      }
      walk(d.dependencies as never);
    }
  };
  walk(tree.dependencies);
  expect(seen.size).toBeGreaterThan(50);
  expect(bad).toEqual([]);
});
