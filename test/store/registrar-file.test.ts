import Database from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { describeEngines } from '../helpers/engines.js';
import { migrationSource } from '../../src/store/migration-source.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { NewBinding } from '../../src/store/bindings.js';

// docs/auc.md "The registrar file": on SQLite the softswitch's bindings live
// in registrar.sqlite, so that its commit per REGISTER leaves keyswitch.sqlite
// (what the AuC reads) untouched.

const HOUR = 3_600_000;

function binding(aor: string, contact: string, expiresAt = Date.now() + HOUR): NewBinding {
  return { aor, contact, q: 1, expiresAt, callId: `c-${contact}`, cseq: 1, source: 'udp:192.0.2.1:5060', idsp: 'sbc1.lab.example', mechanism: '', instance: '' };
}

async function put(store: Store, b: NewBinding): Promise<void> {
  const r = await store.bindings.update(b.aor, () => ({ commit: [{ op: 'put', binding: b }], result: undefined }));
  expect(r.committed).toBe(true);
}

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

describeEngines('registrar bindings across a restart', (ctx) => {
  afterAll(() => ctx.cleanup());

  it('bindings written before a close are there after a reopen, and are removed for good', async () => {
    const opts = ctx.storeOptions();
    let store = await openStore(opts);
    await put(store, binding('alice@lab.example', 'sip:alice@192.0.2.1'));
    await put(store, binding('alice@lab.example', 'sip:alice@192.0.2.2'));
    await put(store, binding('bob@lab.example', 'sip:bob@192.0.2.3'));
    await store.close();

    store = await openStore(opts);
    try {
      expect((await store.bindings.current('alice@lab.example')).map((b) => b.contact).sort()).toEqual(['sip:alice@192.0.2.1', 'sip:alice@192.0.2.2']);
      expect(await store.bindings.count()).toBe(3);
      // an operator's removal goes through knex: it reaches the same table
      expect((await store.bindings.removeAll('bob@lab.example')).map((b) => b.contact)).toEqual(['sip:bob@192.0.2.3']);
    } finally {
      await store.close();
    }
    store = await openStore(opts);
    try {
      expect(await store.bindings.current('bob@lab.example')).toEqual([]);
      expect(await store.bindings.count()).toBe(2);
    } finally {
      await store.close();
    }
  });
});

describe('registrar file (SQLite)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const masterKeyHex = randomBytes(32).toString('hex');
  function dataDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'ks-registrar-'));
    dirs.push(d);
    return d;
  }

  /** A data directory as an install before migration 009 left it: one file, the bindings in it. */
  async function singleFileDir(rows: NewBinding[]): Promise<string> {
    const dir = dataDir();
    const knex: Knex = knexFactory({ client: 'better-sqlite3', connection: { filename: join(dir, 'keyswitch.sqlite') }, useNullAsDefault: true });
    try {
      await knex.raw('PRAGMA journal_mode = WAL');
      const before = { ...migrationSource, getMigrations: async () => (await migrationSource.getMigrations([])).filter((m) => m < '009') };
      await knex.migrate.latest({ migrationSource: before });
      let t = 1_700_000_000_000;
      for (const b of rows) {
        t += 1000;
        await knex('sip_bindings').insert({
          aor: b.aor, contact: b.contact, q_milli: 1000, expires_at: b.expiresAt, call_id: b.callId, cseq: b.cseq, source: b.source,
          idsp: b.idsp, mechanism: b.mechanism, instance: b.instance, reg_id: null, created_at: t, updated_at: t,
        });
      }
    } finally {
      await knex.destroy();
    }
    expect(existsSync(join(dir, 'registrar.sqlite'))).toBe(false);
    return dir;
  }

  const OLD = [binding('alice@lab.example', 'sip:alice@192.0.2.1'), binding('alice@lab.example', 'sip:alice@192.0.2.2'), binding('carol@lab.example', 'sip:carol@192.0.2.9')];

  it("a binding commit leaves keyswitch.sqlite as it was (the AuC's page cache stays), while the AuC's own writes reach it", async () => {
    const dir = dataDir();
    // two processes on one data directory, as under `keyswitch up`: the softswitch's store and the AuC's
    const softswitch = await openStore({ dataDir: dir, masterKeyHex });
    const auc = await openStore({ dataDir: dir, masterKeyHex });
    // what the AuC's connection sees: data_version moves when another connection commits to this file
    const reader = new Database(join(dir, 'keyswitch.sqlite'), { readonly: true });
    const version = () => reader.pragma('data_version', { simple: true }) as number;
    try {
      const v0 = version();
      await put(softswitch, binding('alice@lab.example', 'sip:alice@192.0.2.1'));
      await put(softswitch, binding('alice@lab.example', 'sip:alice@192.0.2.1', Date.now() + 2 * HOUR));
      await softswitch.bindings.takeExpired();
      expect(version()).toBe(v0);
      // the AuC process reads the binding the softswitch committed
      expect((await auc.bindings.current('alice@lab.example')).map((b) => b.expiresAt)).toEqual([expect.any(Number)]);
      // the same reader does see a commit to the main file (the check above can fail)
      await auc.registrations.record({ idc: 'alice@lab.example', idsp: 'sbc1', ipc: '192.0.2.1', protocol: 'sip', contact: 'sip:alice@192.0.2.1', mechanism: '', expiresAt: Date.now() + HOUR });
      expect(version()).not.toBe(v0);
    } finally {
      reader.close();
      await auc.close();
      await softswitch.close();
    }
    expect(tables(join(dir, 'keyswitch.sqlite'))).not.toContain('sip_bindings');
    expect(tables(join(dir, 'registrar.sqlite'))).toContain('sip_bindings');
    // bindings name where subscribers are: the file is as private as the main one
    for (const f of readdirSync(dir).filter((f) => f.startsWith('registrar.sqlite'))) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
  });

  it('an existing single-file data directory is upgraded in place with its bindings intact, ids and times included', async () => {
    const dir = await singleFileDir(OLD);
    const before = new Database(join(dir, 'keyswitch.sqlite'), { readonly: true });
    const rows = before.prepare('SELECT * FROM sip_bindings ORDER BY id').all();
    before.close();
    expect(rows).toHaveLength(3);

    const store = await openStore({ dataDir: dir, masterKeyHex });
    try {
      expect(store.migrations).toContain('009_registrar_file');
      expect(await store.bindings.count()).toBe(3);
      expect((await store.bindings.current('alice@lab.example')).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.1', 'sip:alice@192.0.2.2']);
      // a new binding does not take an id a moved one had
      await put(store, binding('dave@lab.example', 'sip:dave@192.0.2.4'));
    } finally {
      await store.close();
    }
    expect(tables(join(dir, 'keyswitch.sqlite'))).not.toContain('sip_bindings');
    const after = new Database(join(dir, 'registrar.sqlite'), { readonly: true });
    try {
      expect(after.prepare('SELECT * FROM sip_bindings WHERE id <= 3 ORDER BY id').all()).toEqual(rows);
      expect((after.prepare("SELECT id FROM sip_bindings WHERE aor = 'dave@lab.example'").get() as { id: number }).id).toBeGreaterThan(3);
    } finally {
      after.close();
    }
  });

  it('an upgrade killed between the copy and the drop finishes on the next open: every binding once', async () => {
    const dir = await singleFileDir(OLD);
    const crashed = await new Promise<{ signal: string | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, '--data-dir', dir, 'migrate'], {
        env: { ...process.env, KEYSWITCH_MASTER_KEY: masterKeyHex, KEYSWITCH_DB_URL: '', KEYSWITCH_CRASH_AT: 'registrar:copied' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      p.once('exit', (_code, signal) => resolve({ signal, stderr }));
    });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    // killed there: both files hold the bindings
    expect(tables(join(dir, 'keyswitch.sqlite'))).toContain('sip_bindings');
    expect(tables(join(dir, 'registrar.sqlite'))).toContain('sip_bindings');

    const store = await openStore({ dataDir: dir, masterKeyHex });
    try {
      expect(store.migrations).toEqual(['009_registrar_file']);
      expect(await store.bindings.count()).toBe(3);
      expect((await store.bindings.current('carol@lab.example')).map((b) => b.contact)).toEqual(['sip:carol@192.0.2.9']);
    } finally {
      await store.close();
    }
    expect(tables(join(dir, 'keyswitch.sqlite'))).not.toContain('sip_bindings');
  });

  it('migration 009 undone puts the bindings back into keyswitch.sqlite, and done again moves them back', async () => {
    const dir = dataDir();
    let store = await openStore({ dataDir: dir, masterKeyHex });
    await put(store, binding('alice@lab.example', 'sip:alice@192.0.2.1'));
    await store.hot.close();
    await store.db.knex.migrate.down({ migrationSource });
    await store.db.knex.destroy();
    expect(tables(join(dir, 'keyswitch.sqlite'))).toContain('sip_bindings');
    expect(tables(join(dir, 'registrar.sqlite'))).not.toContain('sip_bindings');
    store = await openStore({ dataDir: dir, masterKeyHex });
    try {
      expect(store.migrations).toEqual(['009_registrar_file']);
      expect((await store.bindings.current('alice@lab.example')).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.1']);
    } finally {
      await store.close();
    }
    expect(tables(join(dir, 'keyswitch.sqlite'))).not.toContain('sip_bindings');
  });

  it('a backup is keyswitch.sqlite alone: restored, it has every terminal and no binding, and takes new registrations', async () => {
    const dir = dataDir();
    const key = randomBytes(32);
    let store = await openStore({ dataDir: dir, masterKeyHex });
    const backupDir = dataDir();
    try {
      await store.terminals.create('alice@lab.example', key);
      await put(store, binding('alice@lab.example', 'sip:alice@192.0.2.1'));
      // the documented backup, taken while the roles run: SQLite's online backup of keyswitch.sqlite (sqlite3's `.backup`)
      const live = new Database(join(dir, 'keyswitch.sqlite'), { readonly: true });
      try {
        await live.backup(join(backupDir, 'keyswitch.sqlite'));
      } finally {
        live.close();
      }
    } finally {
      await store.close();
    }
    // restored onto a new machine: the file and the master key, no registrar file
    const restored = join(dataDir(), 'data');
    mkdirSync(restored, { mode: 0o700 });
    const copy = new Database(join(backupDir, 'keyswitch.sqlite'), { readonly: true });
    try {
      await copy.backup(join(restored, 'keyswitch.sqlite'));
    } finally {
      copy.close();
    }
    store = await openStore({ dataDir: restored, masterKeyHex, createDataDir: false });
    try {
      expect(store.migrations).toEqual([]);
      expect((await store.terminals.key('alice@lab.example'))!.key.equals(key)).toBe(true);
      // the bindings were knowingly left out: the terminal registers again
      expect(await store.bindings.current('alice@lab.example')).toEqual([]);
      await put(store, binding('alice@lab.example', 'sip:alice@192.0.2.7'));
      expect((await store.bindings.current('alice@lab.example')).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.7']);
    } finally {
      await store.close();
    }

    // restored in place over a damaged main file: the registrar file kept is the current bindings
    rmSync(join(dir, 'keyswitch.sqlite'));
    for (const f of ['-wal', '-shm']) rmSync(join(dir, `keyswitch.sqlite${f}`), { force: true });
    const again = new Database(join(backupDir, 'keyswitch.sqlite'), { readonly: true });
    try {
      await again.backup(join(dir, 'keyswitch.sqlite'));
    } finally {
      again.close();
    }
    store = await openStore({ dataDir: dir, masterKeyHex, createDataDir: false });
    try {
      expect((await store.bindings.current('alice@lab.example')).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.1']);
    } finally {
      await store.close();
    }
  });
});
