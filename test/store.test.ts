import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { describeEngines } from './helpers/engines.js';
import { DuplicateError, openStore } from '../src/store/index.js';

describeEngines('store', (ctx) => {
  afterAll(() => ctx.cleanup());

  it('keeps terminals across a reopen and never writes the key in clear', async () => {
    const opts = ctx.storeOptions();
    const key = randomBytes(32);
    let store = await openStore(opts);
    await store.terminals.create("alice';drop table terminals;--", key, 's3cret-sip');
    await store.close();

    store = await openStore(opts);
    const got = await store.terminals.key("alice';drop table terminals;--");
    expect(got?.key.equals(key)).toBe(true);
    expect(await store.terminals.sipPassword("alice';drop table terminals;--")).toBe('s3cret-sip');
    await expect(store.terminals.create("alice';drop table terminals;--", key)).rejects.toBeInstanceOf(DuplicateError);
    const page = await store.terminals.list(0, 10);
    expect(page.total).toBe(1);
    await store.close();

    if (ctx.engine === 'sqlite') {
      for (const f of readdirSync(opts.dataDir).filter((f) => f.startsWith('keyswitch.sqlite'))) {
        const bytes = readFileSync(join(opts.dataDir, f));
        expect(bytes.includes(key)).toBe(false);
        expect(bytes.includes(Buffer.from(key.toString('hex')))).toBe(false);
        expect(bytes.includes(Buffer.from(key.toString('base64url')))).toBe(false);
        expect(bytes.includes(Buffer.from('s3cret-sip'))).toBe(false);
      }
    }
  });

  it('refuses to open a key sealed for another row or under another master key', async () => {
    const opts = ctx.storeOptions();
    const store = await openStore(opts);
    await store.proxies.create('sbc1.lab.example', randomBytes(32));
    await store.proxies.create('sbc2.lab.example', randomBytes(32));
    const k = store.db.knex;
    const row = await k('proxies').where({ idsp: 'sbc1.lab.example' }).first();
    await k('proxies').where({ idsp: 'sbc2.lab.example' }).update({ key_enc: row.key_enc });
    await expect(store.proxies.key('sbc2.lab.example')).rejects.toThrow();
    await store.close();
    // another master key does not even open the store (the database keeps the key's check value)
    await expect(openStore({ ...opts, masterKeyHex: randomBytes(32).toString('hex') })).rejects.toThrow(/does not open this database/);
  });

  it('consumes a Rand once, and not after it expires', async () => {
    let t = 1_000_000;
    const store = await ctx.open({ now: () => t });
    await store.challenges.add({ rand: 'r1', idc: 'a', idsp: 's', expiresAt: t + 30_000 });
    await store.challenges.add({ rand: 'r2', idc: 'a', idsp: 's', expiresAt: t + 30_000 });
    expect(await store.challenges.consume('r1', 'a', 'other')).toBe(false);
    expect(await store.challenges.consume('r1', 'a', 's')).toBe(true);
    expect(await store.challenges.consume('r1', 'a', 's')).toBe(false);
    t += 31_000;
    expect(await store.challenges.consume('r2', 'a', 's')).toBe(false);
    await store.close();
  });
});
