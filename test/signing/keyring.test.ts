import { afterAll, expect, it } from 'vitest';
import { describeEngines } from '../helpers/engines.js';
import { KeyRing, openSigningKeys } from '../../src/sbc/signing/keyring.js';
import { Clock } from './flow.js';

const H = 3600_000;

describeEngines('signing key rings', (ctx) => {
  afterAll(() => ctx.cleanup());

  it('keeps key records sealed at rest and reads them back after a restart', async () => {
    const clock = new Clock();
    const opts = ctx.storeOptions({ now: clock.now });
    const store = await (await import('../../src/store/index.js')).openStore(opts);
    try {
      const keys = await openSigningKeys({ store: store.signingKeys, now: clock.now });
      const via = keys.via.current();
      const rr = keys.rr.current();
      expect(via.id).not.toBe(rr.id);
      expect(via.expiresAt - via.createdAt).toBe(4 * H + 30 * 60_000);
      expect(rr.expiresAt - rr.createdAt).toBe(4 * H + 24 * H);

      const rows = await store.db.knex('sbc_signing_keys').select();
      expect(rows.map((r) => r.purpose).sort()).toEqual(['rr', 'via']);
      const raw = rr.key.export();
      for (const r of rows) {
        expect(String(r.key_enc)).toMatch(/^v1\./);
        expect(String(r.key_enc)).not.toContain(raw.toString('base64url'));
        expect(String(r.key_enc)).not.toContain(raw.toString('hex'));
      }
      // A sealed key copied to another row does not open (bound to purpose and id).
      await store.db.knex('sbc_signing_keys').where({ id: via.id }).update({ key_enc: rows.find((r) => r.id === rr.id)!.key_enc });
      await expect(store.signingKeys.live('via', clock.now())).rejects.toThrow();
      await store.db.knex('sbc_signing_keys').where({ id: via.id }).delete();

      // Another instance (or a restart) on the same database adopts the young key instead of adding one.
      clock.advance(H);
      const again = await KeyRing.open({ store: store.signingKeys, purpose: 'rr', lifetimeMs: 24 * H, now: clock.now });
      expect(again.current().id).toBe(rr.id);
      expect(again.current().key.export().equals(raw)).toBe(true);
      expect((await store.signingKeys.live('rr', clock.now())).map((k) => k.id)).toEqual([rr.id]);
    } finally {
      await store.close();
    }
  });

  it('rotates on schedule: the new key signs, old keys verify until they expire, expired rows are purged', async () => {
    const clock = new Clock();
    const store = await ctx.open({ now: clock.now });
    try {
      const ring = await KeyRing.open({ store: store.signingKeys, purpose: 'via', lifetimeMs: 30 * 60_000, rotateEveryMs: H, now: clock.now });
      const k0 = ring.current();
      clock.advance(H - 1);
      expect(await ring.maybeRotate()).toBe(false);
      expect(ring.current().id).toBe(k0.id);
      clock.advance(1);
      expect(await ring.maybeRotate()).toBe(true);
      const k1 = ring.current();
      expect(k1.id).not.toBe(k0.id);
      expect(ring.get('AAAAAAAA')).toBeUndefined();
      expect(ring.get(k0.id)?.id).toBe(k0.id); // still verifies
      clock.advance(30 * 60_000); // k0: created at 0, expires at 1 h 30
      expect(ring.get(k0.id)).toBeUndefined();
      expect(ring.get(k1.id)?.id).toBe(k1.id);
      clock.advance(H / 2); // 2 h: k1 is due for rotation and still valid until 2 h 30
      expect(await ring.maybeRotate()).toBe(true);
      const ids = (await store.db.knex('sbc_signing_keys').select('id')).map((r) => r.id);
      expect(ids).not.toContain(k0.id);
      expect(ids).toContain(k1.id);
      expect(ring.ids()[0]).toBe(ring.current().id);
    } finally {
      await store.close();
    }
  });

  it('a forced rotation and a timer tick at once add one key, not two', async () => {
    const clock = new Clock();
    const store = await ctx.open({ now: clock.now });
    try {
      const ring = await KeyRing.open({ store: store.signingKeys, purpose: 'rr', lifetimeMs: H, now: clock.now });
      clock.advance(5 * H);
      const [a, b] = await Promise.all([ring.rotate(), ring.maybeRotate()]);
      expect(a.id).toBe(ring.current().id);
      expect(b).toBe(true);
      expect((await store.signingKeys.live('rr', clock.now())).length).toBe(1);
    } finally {
      await store.close();
    }
  });
});
