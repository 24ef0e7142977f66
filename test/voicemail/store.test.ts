import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { describeEngines } from '../helpers/engines.js';
import { openStore } from '../../src/store/index.js';
import { rotateMasterKey } from '../../src/store/master-key.js';
import { GrantRefusal } from '../../src/store/voicemail.js';

const id = () => randomBytes(16).toString('hex');

/** The licence server's store: sealed content keys, plays spent atomically, delegation bounded by the grantor, revocation down the chain. */
describeEngines('voicemail store', (ctx) => {
  afterAll(() => ctx.cleanup());
  let t = 1_700_000_000_000;
  const now = () => t;

  const deposit = async (store: Awaited<ReturnType<typeof ctx.open>>, rights = { playsLeft: 3 as number | null, expiresAt: null as number | null, mayForward: true, mayModify: false }) => {
    const m = { id: id(), keyId: id(), contentKey: randomBytes(32), owner: 'bob@lab.example', sender: 'alice@lab.example', senderDisplay: 'Alice', recordedAt: t, durationMs: 2000, codec: 'PCMU' as const, packageSha256: 'ab'.repeat(32), packageBytes: 100, rights };
    expect(await store.voicemail.deposit(m)).toBe(true);
    return m;
  };
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      if (err instanceof GrantRefusal) return err.code;
      throw err;
    }
  };

  it('keeps the content key sealed, spends plays one at a time and refuses once spent, even when asked at once', async () => {
    const store = await ctx.open({ now });
    const m = await deposit(store);
    const row = await store.db.knex('voicemail_messages').where({ id: m.id }).first();
    expect(String(row.key_enc)).not.toContain(m.contentKey.toString('base64url'));
    expect(String(row.key_enc)).not.toContain(m.contentKey.toString('hex'));
    expect((await store.voicemail.contentKey(m.id))!.key.equals(m.contentKey)).toBe(true);
    expect(await store.voicemail.deposit({ ...m })).toBe(false);
    const results = await Promise.all([0, 1, 2, 3, 4].map(() => code(store.voicemail.spendPlay(m.id, 'bob@lab.example'))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    expect(results.filter((r) => r === 'spent')).toHaveLength(2);
    expect((await store.voicemail.grant(m.id, 'bob@lab.example'))!.rights.playsLeft).toBe(0);
    expect(await code(store.voicemail.spendPlay(m.id, 'carol@lab.example'))).toBe('no-licence');
    expect(await code(store.voicemail.spendPlay(id(), 'bob@lab.example'))).toBe('no-licence');
    await store.close();
  });

  it('delegates within the grantor\'s rights only, refuses more, and revokes down the chain', async () => {
    const store = await ctx.open({ now });
    const m = await deposit(store, { playsLeft: 3, expiresAt: t + 86_400_000, mayForward: true, mayModify: false });
    const d = { to: 'carol@lab.example', plays: 2, expiresAt: null, mayForward: true, mayModify: false };
    expect(await code(store.voicemail.delegate(m.id, 'bob@lab.example', { ...d, plays: 4 }))).toBe('exceeds-grant');
    expect(await code(store.voicemail.delegate(m.id, 'bob@lab.example', { ...d, expiresAt: t + 2 * 86_400_000 }))).toBe('exceeds-grant');
    expect(await code(store.voicemail.delegate(m.id, 'bob@lab.example', { ...d, mayModify: true }))).toBe('exceeds-grant');
    expect(await code(store.voicemail.delegate(m.id, 'mallory@lab.example', d))).toBe('no-licence');
    const g = await store.voicemail.delegate(m.id, 'bob@lab.example', d);
    expect(g.rights).toEqual({ playsLeft: 2, expiresAt: t + 86_400_000, mayForward: true, mayModify: false });
    // carol may pass on at most what she holds, and not forwarding when she may not
    expect(await code(store.voicemail.delegate(m.id, 'carol@lab.example', { ...d, to: 'dave@lab.example', plays: 3 }))).toBe('exceeds-grant');
    await store.voicemail.delegate(m.id, 'carol@lab.example', { ...d, to: 'dave@lab.example', plays: 1, mayForward: false });
    expect(await code(store.voicemail.delegate(m.id, 'dave@lab.example', { ...d, to: 'erin@lab.example', plays: 1, mayForward: false }))).toBe('not-forwardable');
    expect(await code(store.voicemail.spendPlay(m.id, 'dave@lab.example'))).toBe('ok');
    expect(await code(store.voicemail.spendPlay(m.id, 'dave@lab.example'))).toBe('spent');
    // revoking carol's grant revokes dave's, made from it; bob's stands
    expect(await store.voicemail.revokeGrant(g.id)).toBe(2);
    expect(await code(store.voicemail.spendPlay(m.id, 'carol@lab.example'))).toBe('revoked');
    expect(await code(store.voicemail.spendPlay(m.id, 'bob@lab.example'))).toBe('ok');
    // expiry
    t += 86_400_000;
    expect(await code(store.voicemail.spendPlay(m.id, 'bob@lab.example'))).toBe('expired');
    await store.close();
  });

  it('a revoked message gives no licence to anyone; deletion removes key and grants; rotation re-seals the content key', async () => {
    const opts = ctx.storeOptions({ now });
    let store = await openStore(opts);
    const m = await deposit(store, { playsLeft: null, expiresAt: null, mayForward: true, mayModify: true });
    await store.voicemail.delegate(m.id, 'bob@lab.example', { to: 'carol@lab.example', plays: 5, expiresAt: null, mayForward: false, mayModify: false });
    const next = randomBytes(32);
    const r = await rotateMasterKey(store.db.knex, store.db.engine, store.vault, next, { now });
    expect(r.resealed).toBeGreaterThanOrEqual(1);
    await store.close();
    store = await openStore({ ...opts, masterKeyHex: next.toString('hex') });
    expect((await store.voicemail.contentKey(m.id))!.key.equals(m.contentKey)).toBe(true);
    expect(await store.voicemail.revokeMessage(m.id, 'operator')).toBe(true);
    expect(await code(store.voicemail.spendPlay(m.id, 'bob@lab.example'))).toBe('revoked');
    expect(await code(store.voicemail.spendPlay(m.id, 'carol@lab.example'))).toBe('revoked');
    expect(await store.voicemail.deleteMessage(m.id)).toBe(true);
    expect(await store.voicemail.contentKey(m.id)).toBeUndefined();
    expect(await store.voicemail.grants(m.id)).toEqual([]);
    await store.close();
  });

  it('voicemail passwords are scrypt hashes, checked, and removable', async () => {
    const store = await ctx.open({ now });
    expect(await store.voicemail.checkPassword('bob@lab.example', 'x')).toBeUndefined();
    await store.voicemail.setPassword('bob@lab.example', 'correct horse');
    const row = await store.db.knex('voicemail_passwords').where({ idc: 'bob@lab.example' }).first();
    expect(String(row.hash)).toMatch(/^scrypt\$/);
    expect(String(row.hash)).not.toContain('correct horse');
    expect(await store.voicemail.checkPassword('bob@lab.example', 'correct horse')).toBe(true);
    expect(await store.voicemail.checkPassword('bob@lab.example', 'correct horsf')).toBe(false);
    await store.voicemail.setPassword('bob@lab.example', 'battery staple');
    expect(await store.voicemail.checkPassword('bob@lab.example', 'correct horse')).toBe(false);
    await store.voicemail.setPassword('bob@lab.example', null);
    expect(await store.voicemail.checkPassword('bob@lab.example', 'battery staple')).toBeUndefined();
    await store.close();
  });
});
