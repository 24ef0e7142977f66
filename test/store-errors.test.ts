/**
 * A failed query's error carries the driver's code and the table, never the
 * SQL, its bindings (an INSERT's sealed key) or PostgreSQL's `detail`, which
 * quotes the failing row (docs/auc.md, "Errors and logs").
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DuplicateError, type Store } from '../src/store/index.js';
import { describeEngines } from './helpers/engines.js';

describeEngines('database errors', (ctx) => {
  let store: Store;
  beforeAll(async () => {
    store = await ctx.open();
  });
  afterAll(async () => {
    await store.close();
    await ctx.cleanup();
  });

  it('a failed INSERT names its code and table only', async () => {
    const sealed = `v1.${'S3cr3tSealedValue_'.repeat(4)}`;
    let caught: (Error & Record<string, unknown>) | undefined;
    try {
      // mk_version is NOT NULL: the row is refused, and PostgreSQL's detail would quote it
      await store.db.knex('terminals').insert({ idc: 'x@lab.example', key_enc: sealed, key_gen: 1, status: 'active', created_at: 1, updated_at: 1 });
    } catch (err) {
      caught = err as Error & Record<string, unknown>;
    }
    expect(caught).toBeDefined();
    expect(caught!.message).toMatch(/^database error \S+ on table terminals$/);
    expect(typeof caught!.code).toBe('string');
    for (const text of [caught!.message, String(caught!.stack), JSON.stringify(caught), JSON.stringify(Object.getOwnPropertyNames(caught!).map((k) => caught![k]))]) {
      expect(text).not.toContain(sealed);
      expect(text).not.toMatch(/insert into|key_enc/i);
    }
    expect(caught!.detail).toBeUndefined();
  });

  it('still tells a duplicate apart (DuplicateError) and the store keeps working', async () => {
    await store.terminals.create('dup@lab.example', Buffer.alloc(32, 1));
    await expect(store.terminals.create('dup@lab.example', Buffer.alloc(32, 2))).rejects.toBeInstanceOf(DuplicateError);
    expect((await store.terminals.get('dup@lab.example'))?.id).toBe('dup@lab.example');
  });

  it('a query on a missing table says so without its text', async () => {
    const err = await store.db.knex('no_such_table').where('secret_column', 'secret-value').first().catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^database error \S+ on table no_such_table$/);
    expect(String((err as Error).stack)).not.toContain('secret-value');
  });
});
