import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BadValue, parseValue, type Setting } from '../../src/config/kinds.js';
import { ConfigError, describeConfig, loadConfig } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/settings.js';
import { configTable, configurationDoc, defaultsYaml, TABLE_BEGIN, TABLE_END } from '../../src/config/table.js';

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

  it('generates docs/configuration.md and config/default.yaml from the schema, up to date (npm run docs:config)', () => {
    const root = join(import.meta.dirname, '..', '..');
    expect(readFileSync(join(root, 'docs', 'configuration.md'), 'utf8')).toBe(configurationDoc());
    expect(readFileSync(join(root, 'config', 'default.yaml'), 'utf8')).toBe(defaultsYaml());
    const doc = configurationDoc();
    for (const s of SETTINGS) expect(doc, s.path).toContain(`| \`${s.path}\` | \`${s.env}\` |`);
  });

  it('names units alike in the path, the environment variable and the schema (…Ms, …Seconds, …Bytes)', () => {
    const suffix = { ms: ['Ms', '_MS'], seconds: ['Seconds', '_SECONDS'], bytes: ['Bytes', '_BYTES'] } as const;
    for (const s of SETTINGS as readonly Setting[]) {
      for (const [unit, [name, env]] of Object.entries(suffix)) {
        const named = s.path.endsWith(name);
        expect(named, `${s.path}: unit ${unit} in the name and the schema`).toBe(s.unit === unit);
        if (named) expect(s.env.endsWith(env), `${s.env} ends with ${env}`).toBe(true);
      }
    }
  });

  it('gives roles typed values: lists, enums, CIDRs and peers parsed once at load', () => {
    const c = loadConfig({
      env: {
        KEYSWITCH_TRUSTED_SBCS: ' 10.0.0.0/8, 2001:db8::1 ',
        KEYSWITCH_DIGEST_ALGORITHMS: 'md5,sha-256',
        KEYSWITCH_AUC_PROTOCOL: 'Diameter',
        KEYSWITCH_AUC_PEERS: 'auc1.example:3868,[2001:db8::2]:3869',
        KEYSWITCH_DIAMETER_PEERS: 'ss1.example@10.1.0.0/16,ss1.example@::1',
        KEYSWITCH_SBC_MECHANISMS: 'app-hmac;q=0.9,tls',
        KEYSWITCH_SBC_ALIASES: 'a.example:5060, b.example:5060',
      },
    });
    expect(c.softswitch.trustedSbcs).toEqual(['10.0.0.0/8', '2001:db8::1']);
    expect(c.softswitch.digestAlgorithms).toEqual(['MD5', 'SHA-256']);
    expect(c.softswitch.auc.protocol).toBe('diameter');
    expect(c.softswitch.auc.peers).toEqual([{ host: 'auc1.example', port: 3868 }, { host: '2001:db8::2', port: 3869 }]);
    expect(c.auc.diameter.peers).toEqual([{ originHost: 'ss1.example', addresses: ['10.1.0.0/16', '::1'] }]);
    expect(c.sbc.mechanisms.map((m) => m.name)).toEqual(['app-hmac', 'tls']);
    expect(c.sbc.signing.aliases).toEqual(['a.example:5060', 'b.example:5060']);
    const d = loadConfig({ env: {} });
    expect(d.softswitch.trustedSbcs).toEqual(['127.0.0.0/8', '::1/128']);
    expect(d.auc.radius.clients).toEqual([]);
    expect(d.softswitch.expires).toEqual({ minSeconds: 60, maxSeconds: 7200, defaultSeconds: 3600 });
    expect(d.metrics.address).toEqual({ host: '127.0.0.1', port: 9470 });
    expect(loadConfig({ env: { KEYSWITCH_SOFTSWITCH_HEALTH: '[::1]:9471' } }).softswitch.health).toEqual({ host: '::1', port: 9471 });
    const off = join(dir, 'off.yaml');
    writeFileSync(off, 'metrics:\n  address: ""\n');
    expect(loadConfig({ configFile: off, env: {} }).metrics.address).toBeUndefined();
  });

  it('refuses a bad list, enum, CIDR or number at load, naming where, the setting, the value and why', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ KEYSWITCH_TRUSTED_SBCS: '10.0.0.0/33' }, /^environment KEYSWITCH_TRUSTED_SBCS: softswitch\.trustedSbcs: "10\.0\.0\.0\/33": the prefix must be 0 to 32$/],
      [{ KEYSWITCH_RADIUS_CLIENTS: '10.0.0.1,example.com' }, /auc\.radius\.clients: "example\.com" is not an IP address/],
      [{ KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-1' }, /softswitch\.digestAlgorithms: "SHA-1" is not one of SHA-256, MD5/],
      [{ KEYSWITCH_AUC_PROTOCOL: 'ldap' }, /softswitch\.auc\.protocol: "ldap" is not one of radius, diameter/],
      [{ KEYSWITCH_SBC_SIGNING: 'yes' }, /sbc\.signing\.enabled: "yes" is not one of on, off/],
      [{ KEYSWITCH_AUC_PEERS: 'auc1.example' }, /softswitch\.auc\.peers: "auc1\.example" is not host:port/],
      [{ KEYSWITCH_SBC_MECHANISMS: 'tls-psk,ipsec-3gpp' }, /sbc\.mechanisms: ipsec-3gpp is not implemented/],
      [{ KEYSWITCH_DIAMETER_PEERS: 'ss1@not-an-ip' }, /auc\.diameter\.peers: "not-an-ip" is not an IP address/],
      [{ KEYSWITCH_API_PORT: 'eighty' }, /auc\.api\.port: "eighty" is not a whole number/],
      [{ KEYSWITCH_API_PORT: '70000' }, /auc\.api\.port: 70000 is above 65535/],
      [{ KEYSWITCH_LOG_LEVEL: 'verbose' }, /log\.level: "verbose" is not one of/],
      [{ KEYSWITCH_SBC_SOFTSWITCH: '127.0.0.1' }, /sbc\.softswitch: "127\.0\.0\.1" is not host:port/],
      [{ KEYSWITCH_MEDIA_WEBHOOK: 'file:///etc/passwd' }, /media\.webhook: "file:\/\/\/etc\/passwd": only http and https URLs/],
      [{ KEYSWITCH_IDS_WEBHOOK: 'not a url' }, /ids\.webhook: "not a url" is not a URL/],
    ];
    for (const [env, why] of cases) {
      expect(() => loadConfig({ env }), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig({ env }), JSON.stringify(env)).toThrow(why);
    }
    // a ceiling below its floor, from whichever layer
    expect(() => loadConfig({ env: { KEYSWITCH_UP_RESTART_MAX_MS: '100' } })).toThrow(/^up\.restartMaxMs \(100\) is below up\.restartFirstMs \(500\)/);
    expect(() => loadConfig({ env: { KEYSWITCH_LOCKOUT_BASE_SECONDS: '7200' } })).toThrow(/auc\.lockout\.maxSeconds \(3600\) is below auc\.lockout\.baseSeconds \(7200\)/);
    expect(() => loadConfig({ env: { KEYSWITCH_EXPIRES_MIN_SECONDS: '600', KEYSWITCH_EXPIRES_MAX_SECONDS: '300' } })).toThrow(ConfigError);
    expect(loadConfig({ env: { KEYSWITCH_UP_RESTART_FIRST_MS: '800', KEYSWITCH_UP_RESTART_MAX_MS: '800' } }).up.restartMaxMs).toBe(800);
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'softswitch:\n  trustedSbcs: [10.0.0.1]\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/softswitch\.trustedSbcs: expected a single value/);
    // a secret's value is never repeated in an error
    writeFileSync(file, 'db:\n  url: [hunter2]\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/db\.url/);
  });

  it('refuses any text a setting cannot take with BadValue only, never another error', () => {
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.stringMatching(/^[0-9a-f:./@,;=\[\] -]{0,40}$/));
    fc.assert(
      fc.property(fc.constantFrom(...(SETTINGS as readonly Setting[])), text, (s, raw) => {
        try {
          parseValue(s, raw);
        } catch (err) {
          expect(err).toBeInstanceOf(BadValue);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a renamed setting under its former name, with one deprecation warning, and refuses both at once', () => {
    const file = join(dir, 'd.yaml');
    writeFileSync(file, 'softswitch:\n  expires:\n    max: 600\nauc:\n  api:\n    bodyLimit: 4096\n');
    const warnings: string[] = [];
    const c = loadConfig({ configFile: file, env: { KEYSWITCH_LOCKOUT_BASE: '7' }, warn: (l) => warnings.push(l) });
    expect(c.softswitch.expires.maxSeconds).toBe(600);
    expect(c.auc.api.bodyLimitBytes).toBe(4096);
    expect(c.auc.lockout.baseSeconds).toBe(7);
    expect(warnings).toHaveLength(3);
    expect(warnings.join('\n')).toMatch(/softswitch\.expires\.max is deprecated, read as softswitch\.expires\.maxSeconds/);
    expect(warnings.join('\n')).toMatch(/KEYSWITCH_LOCKOUT_BASE is deprecated, read as KEYSWITCH_LOCKOUT_BASE_SECONDS/);
    for (const w of warnings) expect(w).not.toContain('\n');
    const quiet: string[] = [];
    loadConfig({ env: { KEYSWITCH_LOCKOUT_BASE_SECONDS: '7' }, warn: (l) => quiet.push(l) });
    expect(quiet).toEqual([]);
    expect(() => loadConfig({ env: { KEYSWITCH_LOCKOUT_BASE: '7', KEYSWITCH_LOCKOUT_BASE_SECONDS: '8' }, warn: () => {} })).toThrow(/set only KEYSWITCH_LOCKOUT_BASE_SECONDS/);
    writeFileSync(file, 'softswitch:\n  expires:\n    max: 600\n    maxSeconds: 700\n');
    expect(() => loadConfig({ configFile: file, env: {}, warn: () => {} })).toThrow(/set only softswitch\.expires\.maxSeconds/);
  });
});
