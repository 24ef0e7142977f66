import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/settings.js';
import { configTable, TABLE_BEGIN, TABLE_END } from '../../src/config/table.js';

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-cfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('layers defaults < file < environment < flags', () => {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, 'auc:\n  api:\n    port: 9001\n    host: 0.0.0.0\n  lockout:\n    threshold: 7\n');
    const env = { KEYSWITCH_API_PORT: '9002', KEYSWITCH_LOCKOUT_THRESHOLD: '8' };
    expect(loadConfig({ env: {} }).auc.api.port).toBe(8080);
    expect(loadConfig({ configFile: file, env: {} }).auc.api.port).toBe(9001);
    const c = loadConfig({ configFile: file, env, flags: { 'auc.api.port': '9003' } });
    expect(c.auc.api.port).toBe(9003);
    expect(c.auc.api.host).toBe('0.0.0.0');
    expect(c.auc.lockout.threshold).toBe(8);
  });

  it('rejects unknown settings and bad values with the setting named', () => {
    const file = join(dir, 'b.yaml');
    writeFileSync(file, 'db:\n  uri: x\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/unknown setting db\.uri/);
    expect(() => loadConfig({ env: { KEYSWITCH_API_PORT: 'eighty' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { KEYSWITCH_API_PORT: 'eighty' } })).toThrow(/auc\.api\.port/);
    writeFileSync(file, '- just\n- a list\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/mapping/);
    expect(() => loadConfig({ configFile: join(dir, 'missing.yaml'), env: {} })).toThrow(/cannot read/);
  });

  it('hides secrets when describing the effective configuration', () => {
    const c = loadConfig({ env: { KEYSWITCH_DB_URL: 'postgres://u:hunter2@h/db', KEYSWITCH_MASTER_KEY: 'ab'.repeat(32) } });
    const text = JSON.stringify(describeConfig(c));
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ab'.repeat(32));
    expect(text).toContain('(set)');
  });

  it('documents every setting once, in the README table, up to date', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf(TABLE_BEGIN) + TABLE_BEGIN.length, readme.indexOf(TABLE_END)).trim();
    expect(section).toBe(configTable());
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((s) => s.path)).size).toBe(SETTINGS.length);
  });
});
