/** The CLI's parity with the API (docs/operations.md, "CLI"): each command, in text and in JSON, on both engines. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, openStore } from '../../src/store/index.js';
import { ks, ksAsync } from '../helpers/cli.js';
import { describeEngines, PG_URL } from '../helpers/engines.js';

const COMMANDS = [
  ['show'], ['rotate'], ['disable'], ['enable'], ['delete'], ['sip-password'], ['unlock'],
  ['registrations'], ['registrations', 'list'], ['registrations', 'show'], ['registrations', 'deregister'],
  ['failures', 'list'], ['blocked'], ['blocked', 'list'], ['blocked', 'unblock'], ['sources', 'list'], ['audit'],
];

/** Runs the CLI with each argument list, a few processes at a time; the results in order. */
async function ksEach(argLists: string[][], atOnce = 4): Promise<Array<Awaited<ReturnType<typeof ksAsync>>>> {
  const out: Array<Awaited<ReturnType<typeof ksAsync>>> = [];
  for (let i = 0; i < argLists.length; i += atOnce) out.push(...(await Promise.all(argLists.slice(i, i + atOnce).map((a) => ksAsync(a)))));
  return out;
}

// --help reads no store: asked once, not per engine, a few processes side by side
describe('keyswitch CLI: operator commands, --help', () => {
  it('answers --help for every operator command, and the top-level help names them', async () => {
    const [top, ...each] = await ksEach([['--help'], ...COMMANDS.map((c) => [...c, '--help'])]);
    for (const c of ['show', 'rotate', 'disable', 'enable', 'delete', 'sip-password', 'unlock', 'registrations', 'failures', 'blocked', 'sources', 'audit']) expect(top!.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
    COMMANDS.forEach((c, i) => {
      const r = each[i]!;
      expect(r.code, c.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: keyswitch /);
    });
  }, 180_000);
});

describeEngines('keyswitch CLI: operator commands', (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-cli-ops-'));
  const pgOpts = ctx.storeOptions();
  const dbUrl = ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '';
  const env: NodeJS.ProcessEnv = { KEYSWITCH_DB_URL: dbUrl };
  const g = ['--data-dir', join(dir, 'data')];
  const run = (args: string[], input?: string) => ks([...g, ...args], env, input);
  const json = (args: string[]) => {
    const r = run([...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    return JSON.parse(r.stdout);
  };
  const opened = () => openStore({ dataDir: join(dir, 'data'), ...(dbUrl ? { url: PG_URL, schema: pgOpts.schema } : {}), createDataDir: false });

  beforeAll(async () => {
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
    expect(run(['--init', 'provision', 'terminal', 'alice@lab.example']).code).toBe(0);
    expect(run(['provision', 'proxy', 'sbc9.lab.example']).code).toBe(0);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  }, 180_000);

  it('shows a terminal and a proxy, as text and as the API shape', () => {
    const t = run(['show', 'terminal', 'alice@lab.example']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^terminal alice@lab\.example\n\s+status\s+active\n\s+key generation\s+1\n\s+SIP password\s+none\n\s+failures\s+0\n/);
    const j = json(['show', 'terminal', 'alice@lab.example']);
    expect(Object.keys(j).sort()).toEqual(['createdAt', 'failures', 'hasSipPassword', 'id', 'keyGeneration', 'status', 'updatedAt']);
    expect(j).toMatchObject({ id: 'alice@lab.example', status: 'active', keyGeneration: 1, hasSipPassword: false, failures: 0 });
    expect(json(['show', 'proxy', 'sbc9.lab.example'])).toMatchObject({ id: 'sbc9.lab.example', status: 'active' });
    const missing = run(['show', 'terminal', 'nobody@lab.example']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('terminal "nobody@lab.example" does not exist');
    expect(run(['show', 'gateway', 'x']).code).toBe(2);
  }, 180_000);

  it('rotates: a generated key is printed once and opens at the AuC; a given key (from a file) is never echoed', async () => {
    const r = run(['rotate', 'terminal', 'alice@lab.example']);
    expect(r.code, r.stderr).toBe(0);
    const key = /^key ([0-9a-f]{64})$/m.exec(r.stdout)![1]!;
    expect(r.stdout).toMatch(/key rotated \(generation 2\)/);
    expect(r.stderr).not.toContain(key);
    let store = await opened();
    expect((await store.terminals.key('alice@lab.example'))!.key.toString('hex')).toBe(key);
    await store.close();
    expect(run(['show', 'terminal', 'alice@lab.example']).stdout).not.toContain(key);

    const mine = randomBytes(32).toString('hex');
    const file = join(dir, 'proxy.key');
    writeFileSync(file, `${mine}\n`, { mode: 0o600 });
    const p = json(['rotate', 'proxy', 'sbc9.lab.example', '--key-file', file]);
    expect(p).toMatchObject({ id: 'sbc9.lab.example', keyGeneration: 2 });
    expect(p.key).toBeUndefined();
    expect(JSON.stringify(p)).not.toContain(mine);
    store = await opened();
    expect((await store.proxies.key('sbc9.lab.example'))!.key.toString('hex')).toBe(mine);
    await store.close();
    expect(json(['rotate', 'terminal', 'alice@lab.example']).key).toMatch(/^[0-9a-f]{64}$/);
    expect(run(['rotate', 'terminal', 'alice@lab.example', '--key', 'abc']).code).toBe(2);
  }, 180_000);

  it('disables, enables and deletes terminals and proxies', () => {
    expect(run(['disable', 'terminal', 'alice@lab.example']).stdout.trim()).toBe('terminal alice@lab.example disabled');
    expect(json(['show', 'terminal', 'alice@lab.example']).status).toBe('disabled');
    expect(json(['enable', 'terminal', 'alice@lab.example']).status).toBe('active');
    expect(json(['disable', 'proxy', 'sbc9.lab.example']).status).toBe('disabled');
    expect(run(['enable', 'proxy', 'sbc9.lab.example']).stdout.trim()).toBe('proxy sbc9.lab.example enabled');
    expect(json(['delete', 'proxy', 'sbc9.lab.example'])).toEqual({ kind: 'proxy', id: 'sbc9.lab.example', deleted: true });
    expect(run(['delete', 'proxy', 'sbc9.lab.example']).code).toBe(2);
    expect(run(['disable', 'terminal', 'nobody@lab.example']).code).toBe(2);
  }, 180_000);

  it('sets and removes the SIP password, from stdin or a file, never echoing it', () => {
    const set = run(['sip-password', 'alice@lab.example', '--sip-password-stdin'], 'pw-from-stdin\n');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout.trim()).toBe('terminal alice@lab.example: SIP password set');
    expect(json(['show', 'terminal', 'alice@lab.example']).hasSipPassword).toBe(true);
    expect(json(['sip-password', 'alice@lab.example', '--remove']).hasSipPassword).toBe(false);
    expect(run(['sip-password', 'alice@lab.example']).code).toBe(2); // neither a password nor --remove
    expect(run(['sip-password', 'alice@lab.example', '--remove', '--sip-password', 'x']).code).toBe(2);
    expect(run(['sip-password', 'nobody@lab.example', '--remove']).code).toBe(2);
  }, 180_000);

  it('lists, unlocks and shows the audit of it all, with the CLI as actor', async () => {
    const store = await opened();
    await store.failures.put({ idc: 'alice@lab.example', count: 5, windowStart: Date.now(), lockouts: 2, lockedUntil: Date.now() + 600_000 });
    await store.close();
    expect(run(['list', 'terminals']).stdout).toMatch(/^alice@lab\.example\tlocked until \S+\tkey-gen 3/);
    expect(json(['list', 'terminals']).items[0]).toMatchObject({ id: 'alice@lab.example', status: 'locked', failures: 5 });
    expect(json(['failures', 'list', '--locked']).items).toEqual([expect.objectContaining({ idc: 'alice@lab.example', locked: true, failures: 5, lockouts: 2 })]);
    expect(run(['unlock', 'alice@lab.example']).stdout.trim()).toBe('terminal alice@lab.example unlocked (it was locked; 5 failures, 2 lockouts)');
    expect(json(['failures', 'list']).total).toBe(0);
    expect(run(['unlock', 'nobody@lab.example']).code).toBe(2);
    const audit = json(['audit', '--target', 'alice@lab.example']);
    expect(audit.items.map((e: { action: string }) => e.action)).toEqual([
      'terminal.unlock', 'terminal.sip-password', 'terminal.sip-password', 'terminal.enable', 'terminal.disable', 'terminal.rotate', 'terminal.rotate', 'terminal.create',
    ]);
    expect(new Set(audit.items.map((e: { actor: string }) => e.actor.split(':')[0]))).toEqual(new Set(['cli']));
    expect(json(['audit', '--action', 'proxy.', '--limit', '2']).items.map((e: { action: string }) => e.action)).toEqual(['proxy.delete', 'proxy.enable']);
    expect(json(['audit', '--until', '2000-01-01']).total).toBe(0);
    const text = run(['audit', '--action', 'terminal.unlock']);
    expect(text.stdout).toMatch(/^\S+Z\tcli:\S+\tterminal\.unlock\talice@lab\.example\t\{"wasLocked":true,"failures":5,"lockouts":2\}\n\(1 of 1\)\n$/);
    for (const bad of [['audit', '--since', '2026-03-01T10:00'], ['audit', '--limit', '0'], ['registrations', 'list', '--offset', '-1'], ['blocked', 'unblock', 'not-an-ip']]) expect(run(bad).code, bad.join(' ')).toBe(2);
  }, 180_000);

  it('the other commands print one JSON line with --json too: token, migrate, config, master-key status, pool init', () => {
    const made = json(['token', 'create', '--role', 'viewer', '--label', 'json']);
    expect(made).toMatchObject({ role: 'viewer', label: 'json' });
    expect(made.token).toMatch(/^ks_[0-9a-f]{16}_/);
    expect(json(['token', 'list']).items).toEqual([expect.objectContaining({ id: made.id, role: 'viewer', status: 'active' })]);
    expect(json(['token', 'revoke', made.id])).toEqual({ id: made.id, status: 'revoked' });
    expect(json(['migrate']).applied).toEqual([]);
    expect(json(['config']).items).toContainEqual({ path: 'auc.lockout.threshold', env: 'KEYSWITCH_LOCKOUT_THRESHOLD', value: expect.any(String) });
    expect(json(['master-key', 'status'])).toMatchObject({ version: 1, versions: [expect.objectContaining({ version: 1, state: 'current' })] });
    const pool = json(['pool', 'init', '--out', join(dir, 'pool')]);
    expect(pool).toMatchObject({ certFile: join(dir, 'pool', 'pool-cert.pem'), keyFile: join(dir, 'pool', 'pool-key.pem') });
    expect(pool.sha256).toMatch(/^[0-9A-F:]{95}$/);
  }, 180_000);

  it('lists registrations, blocked sources and failures per source from the store, with nothing there', () => {
    expect(json(['registrations', 'list'])).toEqual({ items: [], total: 0, offset: 0, limit: 100 });
    expect(run(['registrations', 'show', 'alice@lab.example']).stdout.trim()).toBe('alice@lab.example: no live registration');
    expect(run(['blocked', 'list']).stdout.trim()).toBe('(none)');
    expect(json(['sources', 'list']).total).toBe(0);
    expect(json(['blocked', 'unblock', '192.0.2.1'])).toEqual({ source: '192.0.2.1', lifted: false, idsps: [] });
  }, 180_000);
});
