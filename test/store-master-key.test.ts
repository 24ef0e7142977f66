/**
 * The master key as the store sees it: the check value it records, the keys
 * it refuses, databases from before master_keys, and rotation of every
 * sealed column (src/store/master-key.ts). The CLI side, with crashes, is in
 * test/cli/operator-keys.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { checkValue, KeyVault } from '../src/crypto/vault.js';
import { MasterKeyError, migrate, openDb, openStore, type Store } from '../src/store/index.js';
import { masterKeyStatus, rotateMasterKey, SEALED } from '../src/store/master-key.js';
import { describeEngines } from './helpers/engines.js';

const DAY = 86_400_000;

/** A terminal with a SIP password, a proxy and an SBC signing key: one of each sealed column. */
async function fill(store: Store) {
  const kc = randomBytes(32);
  const ksp = randomBytes(32);
  const sk = randomBytes(32);
  await store.terminals.create('alice@lab.example', kc, 'pw-alice');
  await store.proxies.create('sbc1.lab.example', ksp);
  await store.signingKeys.add({ id: 'k1', purpose: 'rr', key: sk, createdAt: 1_000, expiresAt: 1_000 + 365 * DAY });
  return { kc, ksp, sk };
}

async function expectReadable(store: Store, v: { kc: Buffer; ksp: Buffer; sk: Buffer }) {
  expect((await store.terminals.key('alice@lab.example'))!.key.equals(v.kc)).toBe(true);
  expect(await store.terminals.sipPassword('alice@lab.example')).toBe('pw-alice');
  expect((await store.proxies.key('sbc1.lab.example'))!.key.equals(v.ksp)).toBe(true);
  const [sk] = await store.signingKeys.live('rr', 2_000);
  expect(sk!.key.equals(v.sk)).toBe(true);
}

describeEngines('store master key', (ctx) => {
  afterAll(() => ctx.cleanup());

  it('records the check value of the key it first opens with, and refuses any other key naming the version it wants', async () => {
    const opts = ctx.storeOptions();
    const store = await openStore(opts);
    await fill(store);
    const rows = await store.db.knex('master_keys');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kcv: checkValue(Buffer.from(opts.masterKeyHex!, 'hex')), state: 'current' });
    expect(Number(rows[0].version)).toBe(1);
    expect(JSON.stringify(rows)).not.toContain(opts.masterKeyHex);
    await store.close();

    const wrong = openStore({ ...opts, masterKeyHex: randomBytes(32).toString('hex') });
    await expect(wrong).rejects.toBeInstanceOf(MasterKeyError);
    await expect(openStore({ ...opts, masterKeyHex: randomBytes(32).toString('hex') })).rejects.toThrow(/does not open this database: it is sealed under master key version 1 \(check value [0-9a-f]{8}\)/);
  });

  it('two processes opening a new database with different keys: exactly one key is recorded, the other is refused', async () => {
    const opts = { ...ctx.storeOptions(), migrate: false };
    const db = await openDb(opts);
    await migrate(db); // migrations first: two processes migrating at once is another story
    await db.knex.destroy();
    const other = { ...opts, masterKeyHex: randomBytes(32).toString('hex') };
    const results = await Promise.allSettled([openStore(opts), openStore(other)]);
    const opened = results.filter((r): r is PromiseFulfilledResult<Store> => r.status === 'fulfilled');
    expect(opened).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(MasterKeyError);
    expect((await opened[0]!.value.db.knex('master_keys')).length).toBe(1);
    await opened[0]!.value.close();
  });

  it('a database from before master_keys: the key is recorded only if it opens every sealed value, never when rows were sealed under two keys', async () => {
    const opts = ctx.storeOptions();
    let store = await openStore(opts);
    const v = await fill(store);
    // what the old code allowed: master.key lost, a new one made, a row sealed under it, both labelled version 1
    const stray = new KeyVault(randomBytes(32), 1);
    await store.db.knex('terminals').insert({
      idc: 'bob@lab.example',
      key_enc: stray.seal(randomBytes(32), 'terminal|key|bob@lab.example'),
      key_gen: 1,
      mk_version: 1,
      status: 'active',
      created_at: 1,
      updated_at: 1,
    });
    await store.db.knex('master_keys').delete();
    await store.close();

    await expect(openStore(opts)).rejects.toThrow(/opens 4 of the 5 sealed values in this database \(not terminals "bob@lab\.example"\)/);
    const db = await openDb(opts);
    expect(await db.knex('master_keys')).toEqual([]); // refused: nothing recorded
    // with the stray row gone, the key opens everything and is recorded as version 1
    await db.knex('terminals').where({ idc: 'bob@lab.example' }).delete();
    await db.knex.destroy();
    store = await openStore(opts);
    await expectReadable(store, v);
    expect((await masterKeyStatus(store.db.knex)).versions).toMatchObject([{ version: 1, state: 'current' }]);
    await store.close();
  });

  it('rotation re-seals every sealed column under a new version, and the old key is refused by name', async () => {
    const opts = ctx.storeOptions();
    let store = await openStore(opts);
    const v = await fill(store);
    const newKey = randomBytes(32);
    const progress: Array<[number, number]> = [];
    const r = await rotateMasterKey(store.db.knex, store.db.engine, store.vault, newKey, { now: () => 5_000, onProgress: (d, t) => progress.push([d, t]) });
    expect(r).toMatchObject({ from: 1, to: 2, resealed: 4, checkValue: checkValue(newKey) });
    expect(progress.at(-1)).toEqual([4, 4]);
    for (const t of SEALED) {
      for (const row of await store.db.knex(t.table)) {
        expect(Number(row.mk_version), t.table).toBe(2);
        for (const col of Object.keys(t.columns)) if (row[col] != null) expect(String(row[col])).toMatch(/^v2\./);
      }
    }
    await store.close();

    await expect(openStore(opts)).rejects.toThrow(/is master key version 1, retired by a rotation on .*; the database is sealed under master key version 2/);
    store = await openStore({ ...opts, masterKeyHex: newKey.toString('hex') });
    await expectReadable(store, v);
    const status = await masterKeyStatus(store.db.knex);
    expect(status.sealed).toBe(4);
    expect(status.versions).toMatchObject([{ version: 1, state: 'retired', retiredAt: 5_000 }, { version: 2, state: 'current' }]);
    // neither the current key nor one used before
    await expect(rotateMasterKey(store.db.knex, store.db.engine, store.vault, newKey, { now: Date.now })).rejects.toThrow(/is the current one/);
    await expect(rotateMasterKey(store.db.knex, store.db.engine, store.vault, Buffer.from(opts.masterKeyHex!, 'hex'), { now: Date.now })).rejects.toThrow(/was master key version 1/);
    await expectReadable(store, v);
    await store.close();
  });

  it('a rotation that cannot open one value changes nothing', async () => {
    const opts = ctx.storeOptions();
    let store = await openStore(opts);
    const v = await fill(store);
    await store.proxies.create('sbc2.lab.example', randomBytes(32));
    const k = store.db.knex;
    const moved = await k('proxies').where({ idsp: 'sbc1.lab.example' }).first();
    await k('proxies').where({ idsp: 'sbc2.lab.example' }).update({ key_enc: moved.key_enc }); // bound to another row: does not open
    const before = await k('terminals').select('key_enc', 'sip_secret_enc');
    await expect(rotateMasterKey(k, store.db.engine, store.vault, randomBytes(32), { now: Date.now })).rejects.toThrow(/proxies "sbc2\.lab\.example": its key_enc does not open under master key version 1; nothing was changed/);
    expect(await k('terminals').select('key_enc', 'sip_secret_enc')).toEqual(before);
    expect((await masterKeyStatus(k)).versions).toMatchObject([{ version: 1, state: 'current' }]);
    await store.close();
    store = await openStore(opts);
    await expectReadable(store, v);
    await store.close();
  });

  it('every sealed (*_enc) column of the schema is one that rotation re-seals, in a table that labels rows with mk_version', async () => {
    const store = await ctx.open();
    const k = store.db.knex;
    const columns: Array<{ table: string; column: string }> =
      store.db.engine === 'sqlite'
        ? (await k.raw(`select m.name as "table", p.name as "column" from sqlite_master m join pragma_table_info(m.name) p where m.type = 'table'`))
        : (await k.raw(`select table_name as "table", column_name as "column" from information_schema.columns where table_schema = current_schema()`)).rows;
    const sealed = columns.filter((c) => c.column.endsWith('_enc')).map((c) => `${c.table}.${c.column}`).sort();
    expect(sealed.length).toBeGreaterThan(0);
    expect(sealed).toEqual(SEALED.flatMap((t) => Object.keys(t.columns).map((c) => `${t.table}.${c}`)).sort());
    for (const t of SEALED) expect(columns.some((c) => c.table === t.table && c.column === 'mk_version'), t.table).toBe(true);
    await store.close();
  });
});
