import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';

// The AuC and the softswitch are two processes writing one SQLite file: a
// second connection stands in for the other process.
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('a binding update survives another process committing between its read and its write', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-writers-'));
  dirs.push(dataDir);
  const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex') });
  // the bindings' file (src/store/registrar-file.ts): another softswitch writing it
  const other = new Database(join(dataDir, 'registrar.sqlite'));
  other.pragma('busy_timeout = 0');
  let otherWrote: boolean | undefined;
  try {
    const r = await store.bindings.update('alice@lab.example', (live) => {
      // the other process writes while this one decides
      try {
        other
          .prepare(
            'INSERT INTO sip_bindings (aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at) ' +
              "VALUES ('bob@lab.example', 'sip:bob@192.0.2.2', 1000, 0, 'c2', 1, 'udp:192.0.2.2:5060', '', '', '', NULL, 0, 0)",
          )
          .run();
        otherWrote = true;
      } catch (e) {
        otherWrote = false;
        expect((e as { code?: string }).code).toBe('SQLITE_BUSY');
      }
      const now = Date.now();
      return {
        result: live.length,
        commit: [{ op: 'put', binding: { aor: 'alice@lab.example', contact: 'sip:alice@192.0.2.1', q: 1, expiresAt: now + 60_000, callId: 'c1', cseq: 1, source: 'udp:192.0.2.1:5060', idsp: '', mechanism: '', instance: '' } }],
      };
    });
    expect(r.committed).toBe(true);
    expect(r.live.map((b) => b.contact)).toEqual(['sip:alice@192.0.2.1']);
    // the other writer had to wait for the lock (its busy_timeout decides how long), it was not overtaken silently
    expect(otherWrote).toBe(false);
  } finally {
    other.close();
    await store.close();
  }
});

it('a registration write waits, without stopping the event loop, while a knex transaction of this process holds the lock across an await', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-writers-'));
  dirs.push(dataDir);
  const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex') });
  const order: string[] = [];
  try {
    let write: Promise<void> | undefined;
    await store.db.knex.transaction(async (trx) => {
      await trx('auth_failures').insert({ idc: 'op@lab.example', count: 1, window_start: 0, lockouts: 0, locked_until: 0, updated_at: 0 });
      write = store.registrations.record({ idc: 'a@lab.example', idsp: 'sbc1', ipc: '192.0.2.1', protocol: 'sip', contact: 'sip:a@192.0.2.1', mechanism: '', expiresAt: Date.now() + 60_000 }).then(() => void order.push('hot write'));
      // the knex transaction goes on across timers: the event loop must keep turning for it to finish
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 5));
      order.push('knex commit');
    });
    await write;
    expect(order).toEqual(['knex commit', 'hot write']);
    expect((await store.registrations.forTerminal('a@lab.example')).length).toBe(1);
    expect(await store.failures.get('op@lab.example')).toMatchObject({ count: 1 });
  } finally {
    await store.close();
  }
});
