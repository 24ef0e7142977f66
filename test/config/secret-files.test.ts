import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/settings.js';
import { ks } from '../helpers/cli.js';

/** Docker and Compose secrets arrive as files: every secret setting also reads KEYSWITCH_X_FILE (docs/deploy.md). */
describe('secrets from files (KEYSWITCH_*_FILE)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-secret-files-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = 'ab'.repeat(32);
  const file = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text, { mode: 0o600 });
    return f;
  };

  it('reads every secret setting from the file named by its _FILE variable, line break removed', () => {
    for (const s of SETTINGS.filter((x) => x.type === 'secret')) {
      const value = s.path === 'db.url' ? 'postgres://u:p@db/x' : key;
      const cfg = loadConfig({ env: { [`${s.env}_FILE`]: file(`${s.env}.txt`, `${value}\n`) } });
      expect(s.path.split('.').reduce<unknown>((t, k) => (t as Record<string, unknown>)[k], cfg), s.env).toBe(value);
    }
    expect(loadConfig({ env: { KEYSWITCH_MASTER_KEY_FILE: file('crlf', `${key}\r\n`) } }).masterKey).toBe(key);
  });

  it('refuses both the variable and its file, an unreadable file and an empty one, naming the variable but never the content', () => {
    const f = file('both', key);
    const errors = [
      () => loadConfig({ env: { KEYSWITCH_MASTER_KEY: 'cd'.repeat(32), KEYSWITCH_MASTER_KEY_FILE: f } }),
      () => loadConfig({ env: { KEYSWITCH_MASTER_KEY_FILE: join(dir, 'missing') } }),
      () => loadConfig({ env: { KEYSWITCH_MASTER_KEY_FILE: file('empty', '\n') } }),
    ];
    const messages = errors.map((e) => {
      try {
        e();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('no error');
    });
    expect(messages[0]).toMatch(/KEYSWITCH_MASTER_KEY or KEYSWITCH_MASTER_KEY_FILE, not both/);
    expect(messages[1]).toMatch(/KEYSWITCH_MASTER_KEY_FILE: cannot read .*missing \(ENOENT\)/);
    expect(messages[2]).toMatch(/KEYSWITCH_MASTER_KEY_FILE: .*empty is empty/);
    for (const m of messages) expect(m).not.toContain(key);
  });

  it('reads no file for a setting that is not a secret', () => {
    expect(loadConfig({ env: { KEYSWITCH_API_HOST_FILE: file('host', '10.9.9.9') } }).auc.api.host).toBe('127.0.0.1');
  });

  it('keyswitch config shows a secret given by file as set, not its value', () => {
    const r = ks(['--data-dir', join(dir, 'data'), 'config'], { KEYSWITCH_RADIUS_SECRET_FILE: file('radius', 'sesame-from-file\n') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/auc\.radius\.secret\s+KEYSWITCH_RADIUS_SECRET\s+\(set\)/);
    expect(r.stdout + r.stderr).not.toContain('sesame-from-file');
  });
});
