import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.js';
import type { NewBinding } from '../../src/store/bindings.js';
import { describeEngines } from '../helpers/engines.js';

describeEngines('SIP location store', (ctx) => {
  let store: Store;
  let t = 1_700_000_000_000;
  const aor = 'alice@lab.example';
  const b = (contact: string, extra: Partial<NewBinding> = {}): NewBinding => ({
    aor, contact, q: 1, expiresAt: t + 3600_000, callId: 'c1', cseq: 1, source: 'udp:192.0.2.10:5060', idsp: '', mechanism: '', instance: '', ...extra,
  });

  beforeAll(async () => {
    store = await ctx.open({ now: () => t });
  });
  afterAll(async () => {
    await store.close();
    await ctx.cleanup();
  });

  it('stores bindings, orders them by q and keeps one row per (aor, contact)', async () => {
    const r = await store.bindings.update(aor, () => ({
      commit: [
        { op: 'put', binding: b('sip:alice@192.0.2.10:5060', { q: 0.5 }) },
        { op: 'put', binding: b('sip:alice@192.0.2.11:5060', { q: 0.9, idsp: 'sbc1.lab.example', mechanism: 'tls-psk', regId: 1, instance: '<urn:uuid:1>' }) },
      ],
      result: 'ok',
    }));
    expect(r.committed).toBe(true);
    expect(r.live.map((x) => [x.contact, x.q])).toEqual([['sip:alice@192.0.2.11:5060', 0.9], ['sip:alice@192.0.2.10:5060', 0.5]]);
    expect(r.live[0]).toMatchObject({ idsp: 'sbc1.lab.example', mechanism: 'tls-psk', regId: 1, instance: '<urn:uuid:1>', cseq: 1, expiresAt: t + 3600_000 });
    expect(typeof r.live[0]!.expiresAt).toBe('number');
    expect(r.live[1]!.regId).toBeUndefined();
    await store.bindings.update(aor, () => ({ commit: [{ op: 'put', binding: b('sip:alice@192.0.2.10:5060', { cseq: 2, q: 1 }) }], result: null }));
    const now = await store.bindings.current(aor);
    expect(now).toHaveLength(2);
    expect(now[0]).toMatchObject({ contact: 'sip:alice@192.0.2.10:5060', cseq: 2 });
    expect(await store.bindings.count()).toBe(2);
  });

  it('commits all changes or none', async () => {
    const r = await store.bindings.update(aor, (live) => ({ abort: live.length }));
    expect(r).toMatchObject({ committed: false, result: 2 });
    await expect(store.bindings.update(aor, () => ({
      commit: [{ op: 'remove', contact: 'sip:alice@192.0.2.10:5060' }, { op: 'put', binding: { ...b('x'), aor: 'bob@lab.example' } }],
      result: null,
    }))).rejects.toThrow();
    expect(await store.bindings.current(aor)).toHaveLength(2);
  });

  it('removes bindings and reports what it removed', async () => {
    const r = await store.bindings.update(aor, () => ({ commit: [{ op: 'remove', contact: 'sip:alice@192.0.2.10:5060' }, { op: 'remove', contact: 'sip:none@x' }], result: null }));
    expect(r.removed.map((x) => x.contact)).toEqual(['sip:alice@192.0.2.10:5060']);
    expect(r.live.map((x) => x.contact)).toEqual(['sip:alice@192.0.2.11:5060']);
  });

  it('hides expired bindings and hands them out once for de-registration', async () => {
    await store.bindings.update('bob@lab.example', () => ({ commit: [{ op: 'put', binding: { ...b('sip:bob@192.0.2.20'), aor: 'bob@lab.example', expiresAt: t + 1000 } }], result: null }));
    expect(await store.bindings.current('bob@lab.example')).toHaveLength(1);
    t += 1000;
    expect(await store.bindings.current('bob@lab.example')).toEqual([]);
    const gone = await store.bindings.takeExpired();
    expect(gone.map((x) => x.aor)).toEqual(['bob@lab.example']);
    expect(await store.bindings.takeExpired()).toEqual([]);
    expect(await store.bindings.current(aor)).toHaveLength(1);
  });
});
