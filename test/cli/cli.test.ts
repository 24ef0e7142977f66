import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/index.js';
import { describeEngines, PG_URL } from '../helpers/engines.js';
import { ks, ksAsync, startDaemon } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';

// --help reads no store: asked once, not per engine, a few processes side by side
describe('keyswitch CLI --help', () => {
  it('answers --help for every command', async () => {
    const subs = [['provision', 'import'], ['provision', 'terminal'], ['token', 'create'], ['list'], ['master-key', 'rotate'], ['master-key', 'status']];
    const [top, ...each] = await Promise.all([ksAsync(['--help']), ...subs.slice(0, 3).map((sub) => ksAsync([...sub, '--help']))]).then(async (first) => [...first, ...(await Promise.all(subs.slice(3).map((sub) => ksAsync([...sub, '--help']))))]);
    expect(top!.code).toBe(0);
    for (const c of ['up', 'auc', 'migrate', 'token', 'provision', 'list', 'config', 'master-key']) expect(top!.stdout).toContain(c);
    for (const r of each) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: keyswitch/);
    }
    expect(each).toHaveLength(subs.length);
  });
});

describeEngines('keyswitch CLI', (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-cli-'));
  // The CLI has no schema flag: a PostgreSQL run gets its own schema through the URL's search_path.
  const pgOpts = ctx.storeOptions();
  const dbUrl = ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '';
  beforeAll(async () => {
    env = { ...(await upEnv()).env, ...env };
    // the schema only: the CLI's own master key is the first this store records
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
  });
  let env: NodeJS.ProcessEnv = { KEYSWITCH_DB_URL: dbUrl, KEYSWITCH_LOG_LEVEL: 'info' };
  const g = ['--data-dir', join(dir, 'data')];
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  it('token, up, provisioning over HTTP, restart, read back — and the key is not in the database file', async () => {
    // the first command on a new data directory asks for it to be made
    const tok = ks([...g, '--init', 'token', 'create', '--role', 'admin'], env);
    expect(tok.code).toBe(0);
    const token = tok.stdout.trim();
    expect(token).toMatch(/^ks_[0-9a-f]{16}_/);

    const up = async () => {
      const started = await startDaemon([...g, 'up', '--api-port', '0'], /AuC provisioning API\s+(http:\/\/[^\s]+)[\s\S]*SBC H\.248/, env);
      return started;
    };
    let { daemon, match } = await up();
    let api = match[1];
    const key = randomBytes(32).toString('hex');
    const create = await fetch(`${api}/v1/terminals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'alice@lab.example', key, sipPassword: 'pw-alice-123' }),
    });
    expect(create.status).toBe(201);
    expect(await daemon.stop()).toBe(0);
    const logs1 = daemon.output();

    ({ daemon, match } = await up());
    api = match[1];
    const back = await fetch(`${api}/v1/terminals/alice@lab.example`, { headers: { authorization: `Bearer ${token}` } });
    expect(back.status).toBe(200);
    expect(await back.json()).toMatchObject({ id: 'alice@lab.example', status: 'active', hasSipPassword: true });
    await daemon.stop();
    for (const text of [logs1, daemon.output()]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(token);
    }

    const list = ks([...g, 'list', 'terminals', '--json'], env);
    expect(JSON.parse(list.stdout).items[0].id).toBe('alice@lab.example');

    if (ctx.engine === 'sqlite') {
      const bytes = readdirSync(join(dir, 'data'))
        .filter((f) => f.startsWith('keyswitch.sqlite'))
        .map((f) => readFileSync(join(dir, 'data', f)));
      expect(bytes.length).toBeGreaterThan(0);
      for (const b of bytes) {
        expect(b.includes(Buffer.from(key, 'hex'))).toBe(false);
        expect(b.includes(Buffer.from(key))).toBe(false);
        expect(b.includes(Buffer.from('pw-alice-123'))).toBe(false);
      }
      expect(statSync(join(dir, 'data', 'master.key')).mode & 0o777).toBe(0o600);
    }
  });

  it('imports a CSV with generated keys only in --keys-out, and a re-run changes nothing', () => {
    const csv = join(dir, 'terminals.csv');
    writeFileSync(csv, 'idc,key,sip_password\ngw1@lab.example,,\ngw2@lab.example,,pw\ngw3@lab.example,zz,\n');
    const out = join(dir, 'keys.csv');
    const r1 = ks([...g, 'provision', 'import', csv, '--keys-out', out], env);
    expect(r1.code).toBe(1);
    expect(r1.stdout).toContain('3 rows: 2 created, 0 unchanged, 1 failed');
    expect(r1.stdout).toContain('line 4 ("gw3@lab.example"): key must be 64 hexadecimal digits');
    expect(r1.stderr).toMatch(/imported 3\/3/);
    const keys = readFileSync(out, 'utf8').trim().split('\n');
    expect(keys[0]).toBe('idc,key');
    expect(keys).toHaveLength(3);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    for (const line of keys.slice(1)) expect(r1.stdout + r1.stderr).not.toContain(line.split(',')[1]);
    const r2 = ks([...g, 'provision', 'import', csv, '--keys-out', join(dir, 'keys2.csv')], env);
    expect(r2.stdout).toContain('3 rows: 0 created, 2 unchanged, 1 failed');
  });

  it('gives clear errors for bad input', () => {
    const dup = ks([...g, 'provision', 'proxy', 'sbc9.lab.example', '--key', randomBytes(32).toString('hex')], env);
    expect(dup.code).toBe(0);
    const again = ks([...g, 'provision', 'proxy', 'sbc9.lab.example'], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    const bad = ks([...g, 'provision', 'terminal', 'x@y', '--key', '1234'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('64 hexadecimal digits');
    const role = ks([...g, 'token', 'create', '--role', 'root'], env);
    expect(role.code).not.toBe(0);
    expect(role.stderr).toContain('Allowed choices are admin, viewer');
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'auc:\n  api:\n    prot: 1\n');
    const unknown = ks(['--config', cfg, ...g, 'config'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown setting auc.api.prot');
  });
});
