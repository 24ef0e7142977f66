/**
 * Issue 8 item 8, as an operator meets it: the generated keys of an import,
 * the master key and its rotation, the data directory the CLI uses, the modes
 * of the files that hold secrets, and keys given to terminal commands.
 * Every test drives the real `keyswitch` binary, on SQLite and PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openDb, openStore, type StoreOptions } from '../../src/store/index.js';
import { SEALED } from '../../src/store/master-key.js';
import { BIN, ks, startDaemon, type Daemon } from '../helpers/cli.js';

/** What `keyswitch up` prints once every role listens. */
const UP_READY = /SBC H\.248 \(gateways\)/;
import { describeEngines, PG_URL } from '../helpers/engines.js';
import { upEnv } from '../helpers/ports.js';

/** Runs a keyswitch command to its end (or kills it after `ms`): exit code, signal, output. */
function runToEnd(args: string[], env: NodeJS.ProcessEnv, ms = 30_000): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const mode = (path: string) => statSync(path).mode & 0o777;
const hex = () => randomBytes(32).toString('hex');

describeEngines('operator keys and store', (ctx) => {
  const roots: string[] = [];
  afterAll(async () => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
    await ctx.cleanup();
  });

  /** A fresh data directory (not created yet) and, on PostgreSQL, a fresh empty schema. */
  async function fresh() {
    const root = mkdtempSync(join(tmpdir(), 'ks-opkeys-'));
    roots.push(root);
    const data = join(root, 'data');
    const pg = ctx.engine === 'postgres' ? ctx.storeOptions() : undefined;
    if (pg) await (await openDb(pg)).knex.destroy(); // the schema only: no store, no master key
    const env: NodeJS.ProcessEnv = {
      KEYSWITCH_DB_URL: pg ? `${PG_URL}?options=-c%20search_path%3D${pg.schema}` : '',
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_MASTER_KEY: '',
    };
    /** Opens the same store in this process, with the master key the CLI uses. */
    const open = (extra: Partial<StoreOptions> = {}) =>
      openStore({ dataDir: data, ...(pg ? { url: PG_URL, schema: pg.schema } : {}), createDataDir: false, ...extra });
    /** The same database without any master key: its rows as stored. */
    const db = () => openDb({ dataDir: data, ...(pg ? { url: PG_URL, schema: pg.schema } : {}), createDataDir: false });
    return { root, data, env, g: ['--data-dir', data], open, db };
  }

  /** A store with alice provisioned, and `keyswitch up` started and stopped once, which seals the SBC's own identity and its header-signing keys. */
  async function sealedWithAlice() {
    const s = await fresh();
    const alice = hex();
    expect(ks([...s.g, '--init', 'provision', 'terminal', 'alice@lab.example', '--key', alice, '--sip-password', 'pw-alice-1'], s.env).code).toBe(0);
    const u = await upEnv();
    const env = { ...s.env, ...u.env };
    const { daemon } = await startDaemon([...s.g, 'up'], UP_READY, env);
    expect(await daemon.stop(), daemon.output()).toBe(0);
    return { s, alice, env, u };
  }

  it('refuses to create a data directory unless --init is given, and says which store each command used', async () => {
    const s = await fresh();
    const list = ks([...s.g, 'list', 'terminals'], s.env);
    expect(list.code).not.toBe(0);
    expect(list.stderr).toContain(`data directory ${s.data} does not exist`);
    expect(list.stderr).toContain('--init');
    expect(existsSync(s.data)).toBe(false);

    const tok = ks([...s.g, '--init', 'token', 'create', '--role', 'admin'], s.env);
    expect(tok.code, tok.stderr).toBe(0);
    const storeLine = ctx.engine === 'sqlite' ? `store: sqlite ${join(s.data, 'keyswitch.sqlite')}` : 'store: postgres 127.0.0.1:5432/keyswitch_test';
    expect(tok.stderr).toContain(storeLine);
    expect(tok.stderr).not.toContain('keyswitch:keyswitch@'); // never the password
    const again = ks([...s.g, 'list', 'terminals'], s.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.split('\n').filter((l) => l.startsWith('store: '))).toEqual([expect.stringContaining(storeLine)]);

    expect(mode(s.data)).toBe(0o700);
    expect(mode(join(s.data, 'master.key'))).toBe(0o600);
    if (ctx.engine === 'sqlite') {
      const files = readdirSync(s.data).filter((f) => f.startsWith('keyswitch.sqlite'));
      expect(files).toContain('keyswitch.sqlite');
      for (const f of files) expect(mode(join(s.data, f)), f).toBe(0o600);
    }
  });

  it('refuses an import onto an existing --keys-out file: the file is intact and no terminal is created', async () => {
    const s = await fresh();
    expect(ks([...s.g, '--init', 'list', 'terminals'], s.env).code).toBe(0);
    const csv = join(s.root, 'in.csv');
    writeFileSync(csv, 'idc,key\nnew1@lab.example,\nnew2@lab.example,\n');
    const out = join(s.root, 'keys.csv');
    writeFileSync(out, 'idc,key\nold@lab.example,' + hex() + '\n');
    const before = readFileSync(out);
    const r = ks([...s.g, 'provision', 'import', csv, '--keys-out', out], s.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/exists.*refus|refus.*exists/);
    expect(readFileSync(out).equals(before)).toBe(true);
    const store = await s.open();
    expect((await store.terminals.list(0, 10)).total).toBe(0);
    await store.close();
  });

  it('refuses an import whose --keys-out cannot be written, before any terminal is created', async () => {
    const s = await fresh();
    expect(ks([...s.g, '--init', 'list', 'terminals'], s.env).code).toBe(0);
    const csv = join(s.root, 'in.csv');
    writeFileSync(csv, 'idc,key\nnew1@lab.example,\n');
    const aFile = join(s.root, 'a-file');
    writeFileSync(aFile, '');
    for (const out of [join(s.root, 'no-such-dir', 'keys.csv'), join(aFile, 'keys.csv')]) {
      const r = ks([...s.g, 'provision', 'import', csv, '--keys-out', out], s.env);
      expect(r.code, out).not.toBe(0);
      expect(r.stderr).toContain('cannot write');
    }
    const store = await s.open();
    expect((await store.terminals.list(0, 10)).total).toBe(0);
    await store.close();
  });

  it('refuses an import that must generate keys without --keys-out, before touching the store', async () => {
    const s = await fresh();
    expect(ks([...s.g, '--init', 'list', 'terminals'], s.env).code).toBe(0);
    const csv = join(s.root, 'in.csv');
    writeFileSync(csv, `idc,key\nwith@lab.example,${hex()}\nwithout@lab.example,\n`);
    const r = ks([...s.g, 'provision', 'import', csv], s.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--keys-out');
    let store = await s.open();
    expect((await store.terminals.list(0, 10)).total).toBe(0);
    await store.close();

    // with every key supplied there is nothing to keep: no --keys-out needed
    const given = join(s.root, 'given.csv');
    writeFileSync(given, `idc,key\nwith@lab.example,${hex()}\n`);
    const ok = ks([...s.g, 'provision', 'import', given], s.env);
    expect(ok.code, ok.stderr).toBe(0);
    store = await s.open();
    expect((await store.terminals.list(0, 10)).total).toBe(1);
    await store.close();
  });

  it('writes generated keys 0600, and a crash in the middle of an import loses none of them', async () => {
    const s = await fresh();
    expect(ks([...s.g, '--init', 'list', 'terminals'], s.env).code).toBe(0);
    const csv = join(s.root, 'in.csv');
    const ids = Array.from({ length: 6 }, (_, i) => `gw${i}@lab.example`);
    writeFileSync(csv, 'idc,key\n' + ids.map((id) => `${id},\n`).join(''));
    const out = join(s.root, 'keys.csv');
    const crashed = await runToEnd([...s.g, 'provision', 'import', csv, '--keys-out', out], { ...s.env, KEYSWITCH_CRASH_AT: 'import:created@3' });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    expect(mode(out)).toBe(0o600);
    const written = new Map(readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',') as [string, string]));
    const store = await s.open();
    const created = (await store.terminals.list(0, 100)).items.map((p) => p.id);
    expect(created.length).toBe(3);
    for (const id of created) {
      expect(written.has(id), id).toBe(true);
      expect((await store.terminals.key(id))!.key.toString('hex')).toBe(written.get(id));
    }
    await store.close();

    // the re-run creates the rest into another file and leaves the first one alone
    const out2 = join(s.root, 'keys2.csv');
    const rest = ks([...s.g, 'provision', 'import', csv, '--keys-out', out2], s.env);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout).toContain('6 rows: 3 created, 3 unchanged, 0 failed');
    expect(readFileSync(out2, 'utf8').trim().split('\n')).toHaveLength(4);
    expect(mode(out2)).toBe(0o600);
  });

  it('refuses to start or run a command when master.key is gone or wrong, and writes no new key', async () => {
    const s = await fresh();
    const made = ks([...s.g, '--init', 'provision', 'terminal', 'alice@lab.example', '--json'], s.env);
    expect(made.code, made.stderr).toBe(0);
    const keyFile = join(s.data, 'master.key');
    unlinkSync(keyFile);

    const list = ks([...s.g, 'list', 'terminals'], s.env);
    expect(list.code).not.toBe(0);
    const msg = list.stderr.trim().split('\n').filter((l) => !l.startsWith('store: '));
    expect(msg).toHaveLength(1);
    expect(msg[0]).toMatch(/master key .* missing/);
    expect(existsSync(keyFile)).toBe(false);

    const up = await runToEnd([...s.g, 'up'], { ...s.env, ...(await upEnv()).env }, 20_000);
    expect(up.signal).toBeNull(); // it exited by itself, it was not still running
    expect(up.code).not.toBe(0);
    expect(up.stderr).toMatch(/master key .* missing/);
    expect(up.stdout).not.toContain('keyswitch is up');
    expect(existsSync(keyFile)).toBe(false);

    for (const args of [['provision', 'terminal', 'bob@lab.example'], ['--init', 'token', 'create', '--role', 'admin']]) {
      const r = ks([...s.g, ...args], s.env);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(existsSync(keyFile)).toBe(false);
    }
    const wrong = ks([...s.g, 'list', 'terminals'], { ...s.env, KEYSWITCH_MASTER_KEY: hex() });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/does not open/);
  }, 60_000);

  it('refuses every role and command when master.key is replaced by another key or deleted: one line, no key in it, the file left as found, nothing re-sealed; the original key back, the terminal registers', async () => {
    const { s, alice, env, u } = await sealedWithAlice();
    let daemon: Daemon;
    const keyFile = join(s.data, 'master.key');
    const original = readFileSync(keyFile);
    const sealedRows = async () => {
      const db = await s.db();
      try {
        const rows: Record<string, unknown[]> = { master_keys: await db.knex('master_keys').orderBy('version') };
        for (const t of SEALED) rows[t.table] = await db.knex(t.table).select(t.key, 'mk_version', ...Object.keys(t.columns)).orderBy(t.key);
        return rows;
      } finally {
        await db.knex.destroy();
      }
    };
    const before = await sealedRows();
    expect(before.terminals).toHaveLength(1);
    expect(before.proxies!.length).toBeGreaterThan(0);

    const replacement = Buffer.from(hex() + '\n');
    for (const damage of ['replaced', 'deleted'] as const) {
      if (damage === 'replaced') writeFileSync(keyFile, replacement, { mode: 0o600 });
      else unlinkSync(keyFile);
      const runs: Array<[string[], boolean]> = [
        ...[['auc'], ['softswitch'], ['sbc'], ['media'], ['up']].map((a): [string[], boolean] => [a, true]),
        ...[['list', 'terminals'], ['show', 'terminal', 'alice@lab.example'], ['provision', 'terminal', 'bob@lab.example'], ['token', 'create', '--role', 'admin'], ['master-key', 'status'], ['master-key', 'rotate'], ['--init', 'list', 'terminals']].map((a): [string[], boolean] => [a, false]),
      ];
      // all at once: each must refuse on its own, whatever the others do
      const results = await Promise.all(runs.map(([args, role]) => runToEnd([...s.g, ...args], role ? env : s.env, 30_000)));
      for (const [i, [args]] of runs.entries()) {
        const what = `${damage}: keyswitch ${args.join(' ')}`;
        const r = results[i]!;
        expect(r.signal, what).toBeNull(); // it exited by itself, it was not still running
        expect(r.code, what).not.toBe(0);
        expect(r.stdout, what).not.toContain('keyswitch is up');
        const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('store: '));
        expect(lines, what).toEqual([expect.stringMatching(damage === 'replaced' ? /^keyswitch: master key .* does not open this database/ : /^keyswitch: master key .* is missing/)]);
        expect(lines[0], what).not.toMatch(/[0-9a-f]{64}/i);
        for (const key of [original.toString().trim(), replacement.toString().trim(), alice]) expect(r.stdout + r.stderr, what).not.toContain(key);
        // no new key written, the damaged file left as the accident left it
        if (damage === 'replaced') expect(readFileSync(keyFile).equals(replacement), what).toBe(true);
        expect(readdirSync(s.data).filter((f) => f.startsWith('master.key')), what).toEqual(damage === 'replaced' ? ['master.key'] : []);
      }
      expect(await sealedRows(), damage).toEqual(before);
    }

    writeFileSync(keyFile, original, { mode: 0o600 });
    const list = ks([...s.g, 'list', 'terminals', '--json'], s.env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).items.map((t: { id: string }) => t.id)).toEqual(['alice@lab.example']);
    ({ daemon } = await startDaemon([...s.g, 'up'], UP_READY, env));
    try {
      const reg = ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', alice, '--sbc', `127.0.0.1:${u.ports.sbcSip}`]);
      expect(reg.code, reg.stdout + reg.stderr).toBe(0);
    } finally {
      await daemon.stop();
    }
  }, 240_000);

  it('rotates the master key: every sealed row is re-sealed, the old key is refused, and a terminal still registers through keyswitch up', async () => {
    const { s, alice, env, u } = await sealedWithAlice();
    let daemon: Daemon;
    const oldKey = readFileSync(join(s.data, 'master.key'), 'utf8').trim();

    const help = ks(['master-key', 'rotate', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: keyswitch master-key rotate/);
    const rot = ks([...s.g, 'master-key', 'rotate'], s.env);
    expect(rot.code, rot.stderr).toBe(0);
    expect(rot.stderr).toMatch(/re-sealed \d+\/\d+/);
    const newKey = readFileSync(join(s.data, 'master.key'), 'utf8').trim();
    expect(newKey).toMatch(/^[0-9a-f]{64}$/);
    expect(newKey).not.toBe(oldKey);
    expect(mode(join(s.data, 'master.key'))).toBe(0o600);
    expect(readdirSync(s.data).filter((f) => f.startsWith('master.key'))).toEqual(['master.key']);
    expect(rot.stdout + rot.stderr).not.toContain(newKey);
    expect(rot.stdout + rot.stderr).not.toContain(oldKey);

    const store = await s.open();
    expect((await store.terminals.key('alice@lab.example'))!.key.toString('hex')).toBe(alice);
    expect(await store.terminals.sipPassword('alice@lab.example')).toBe('pw-alice-1');
    const k = store.db.knex;
    for (const table of ['terminals', 'proxies', 'sbc_signing_keys']) {
      const rows = await k(table).select('key_enc', 'mk_version');
      expect(rows.length, table).toBeGreaterThan(0);
      for (const r of rows) {
        expect(Number(r.mk_version)).toBe(2);
        expect(String(r.key_enc)).toMatch(/^v2\./);
      }
    }
    await store.close();

    const old = ks([...s.g, 'list', 'terminals'], { ...s.env, KEYSWITCH_MASTER_KEY: oldKey });
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/version 1\b.*version 2\b/);

    ({ daemon } = await startDaemon([...s.g, 'up'], UP_READY, env));
    try {
      const reg = ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', alice, '--sbc', `127.0.0.1:${u.ports.sbcSip}`, '--mechs', 'app-hmac;q=0.5']);
      expect(reg.code, reg.stdout + reg.stderr).toBe(0);
    } finally {
      await daemon.stop();
    }
  }, 90_000);

  for (const point of ['rotate:key-written', 'rotate:resealing', 'rotate:committed', 'rotate:backup-linked']) {
    it(`a crash during a rotation (${point}) leaves a store that opens, with every key readable`, async () => {
      const s = await fresh();
      const keys = new Map<string, string>();
      let store = await s.open({ createDataDir: true }); // makes the data directory and master.key, as --init would
      for (let i = 0; i < 4; i++) {
        const id = `t${i}@lab.example`;
        keys.set(id, hex());
        await store.terminals.create(id, Buffer.from(keys.get(id)!, 'hex'), `pw-${id}`);
      }
      await store.close();
      const crashed = await runToEnd([...s.g, 'master-key', 'rotate'], { ...s.env, KEYSWITCH_CRASH_AT: point });
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');

      const list = ks([...s.g, 'list', 'terminals', '--json'], s.env);
      expect(list.code, list.stderr).toBe(0);
      // after the commit the start-up check finds the new key in master.key.new and puts it in place
      if (point === 'rotate:committed' || point === 'rotate:backup-linked') expect(list.stderr).toContain('finished an interrupted master-key rotation');
      else expect(list.stderr).not.toContain('interrupted');
      expect(JSON.parse(list.stdout).total).toBe(4);
      store = await s.open();
      for (const [id, key] of keys) {
        expect((await store.terminals.key(id))!.key.toString('hex')).toBe(key);
        expect(await store.terminals.sipPassword(id)).toBe(`pw-${id}`);
      }
      await store.close();
      // and the next rotation goes through
      const again = ks([...s.g, 'master-key', 'rotate'], s.env);
      expect(again.code, again.stderr).toBe(0);
      store = await s.open();
      for (const [id, key] of keys) {
        expect((await store.terminals.key(id))!.key.toString('hex')).toBe(key);
        expect(await store.terminals.sipPassword(id)).toBe(`pw-${id}`);
      }
      await store.close();
    }, 60_000);
  }

  it('takes --key and --sip-password from a file or stdin, so that keys stay out of the process list', async () => {
    const s = await fresh();
    const alice = hex();
    const keyFile = join(s.root, 'alice.key');
    writeFileSync(keyFile, alice + '\n', { mode: 0o600 });
    const pwFile = join(s.root, 'alice.pw');
    writeFileSync(pwFile, 'pw-from-file\n', { mode: 0o600 });
    const made = ks([...s.g, '--init', 'provision', 'terminal', 'alice@lab.example', '--key-file', keyFile, '--sip-password-file', pwFile], s.env);
    expect(made.code, made.stderr).toBe(0);
    const bob = hex();
    expect(ks([...s.g, 'provision', 'terminal', 'bob@lab.example', '--key-stdin'], s.env, bob + '\n').code).toBe(0);
    let store = await s.open();
    expect((await store.terminals.key('alice@lab.example'))!.key.toString('hex')).toBe(alice);
    expect(await store.terminals.sipPassword('alice@lab.example')).toBe('pw-from-file');
    expect((await store.terminals.key('bob@lab.example'))!.key.toString('hex')).toBe(bob);
    await store.close();
    for (const sub of [['terminal', 'register'], ['terminal', 'call'], ['terminal', 'answer'], ['provision', 'terminal']]) {
      expect(ks([...sub, '--help']).stdout, sub.join(' ')).toMatch(/--key-file/);
    }

    const u = await upEnv();
    const env = { ...s.env, ...u.env };
    const sbc = `127.0.0.1:${u.ports.sbcSip}`;
    const { daemon } = await startDaemon([...s.g, 'up'], /SBC H\.248 \(gateways\)/, env);
    try {
      const byFile = ks(['terminal', 'register', '--id', 'alice@lab.example', '--key-file', keyFile, '--sbc', sbc]);
      expect(byFile.code, byFile.stdout + byFile.stderr).toBe(0);
      const byStdin = ks(['terminal', 'register', '--id', 'bob@lab.example', '--key', '-', '--sbc', sbc], {}, bob + '\n');
      expect(byStdin.code, byStdin.stdout + byStdin.stderr).toBe(0);

      // a long-running terminal: its arguments, as `ps` shows them, hold no key
      const proc = spawn(process.execPath, [BIN, 'terminal', 'answer', '--id', 'bob@lab.example', '--key-stdin', '--sbc', sbc, '--timeout', '20'], { stdio: ['pipe', 'pipe', 'pipe'] });
      proc.stdin!.end(bob + '\n');
      let out = '';
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          if (out.includes('"registered"')) resolve();
        });
        proc.once('exit', () => reject(new Error(`answer exited: ${out}`)));
      });
      const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8');
      expect(cmdline).toContain('--key-stdin');
      expect(cmdline).not.toContain(bob);
      proc.kill('SIGTERM');
    } finally {
      await daemon.stop();
    }
  }, 90_000);
});
