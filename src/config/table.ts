import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SETTINGS } from './settings.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The README's configuration table, made from SETTINGS and config/default.yaml. */
export function configTable(): string {
  const defaults = parse(readFileSync(join(ROOT, 'config', 'default.yaml'), 'utf8')) as Record<string, unknown>;
  const get = (p: string) => p.split('.').reduce<unknown>((t, k) => (t as Record<string, unknown> | undefined)?.[k], defaults);
  const rows = SETTINGS.map((s) => {
    const d = get(s.path);
    return `| \`${s.path}\` | \`${s.env}\` | ${d === '' || d === undefined ? '(empty)' : `\`${String(d)}\``} | ${s.doc} |`;
  });
  return ['| setting (YAML path) | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export const TABLE_BEGIN = '<!-- config-table:begin (npm run docs:config) -->';
export const TABLE_END = '<!-- config-table:end -->';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const readme = join(ROOT, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const a = text.indexOf(TABLE_BEGIN);
  const b = text.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error('README.md has no config-table markers');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(readme, text.slice(0, a + TABLE_BEGIN.length) + '\n' + configTable() + '\n' + text.slice(b));
  console.log('README.md configuration table updated');
}
