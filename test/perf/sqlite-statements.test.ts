import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { DuplicateError, openStore } from '../../src/store/index.js';

// Prepared statements are reused across queries (src/store/db.ts): the same SQL
// must still see fresh data, survive a failed run and a schema change.
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('reused statements see every change, and one that failed runs again', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-stmts-'));
  dirs.push(dataDir);
  const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex') });
  try {
    expect(await store.failures.get('a@lab.example')).toBeUndefined();
    await store.failures.put({ idc: 'a@lab.example', count: 1, windowStart: 1, lockouts: 0, lockedUntil: 0 });
    expect((await store.failures.get('a@lab.example'))?.count).toBe(1);
    await store.failures.put({ idc: 'a@lab.example', count: 2, windowStart: 1, lockouts: 0, lockedUntil: 0 });
    expect((await store.failures.get('a@lab.example'))?.count).toBe(2);
    await store.failures.clear('a@lab.example');
    expect(await store.failures.get('a@lab.example')).toBeUndefined();

    await store.terminals.create('b@lab.example', randomBytes(32));
    await expect(store.terminals.create('b@lab.example', randomBytes(32))).rejects.toBeInstanceOf(DuplicateError);
    await store.terminals.create('c@lab.example', randomBytes(32));
    expect((await store.terminals.list(0, 10)).total).toBe(2);

    // a schema change under a cached statement
    await store.db.knex.raw('ALTER TABLE auth_failures ADD COLUMN note TEXT');
    await store.failures.put({ idc: 'd@lab.example', count: 3, windowStart: 1, lockouts: 0, lockedUntil: 0 });
    expect((await store.failures.get('d@lab.example'))?.count).toBe(3);
  } finally {
    await store.close();
  }
});
