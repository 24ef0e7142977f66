import { afterAll, expect, it } from 'vitest';
import { describeEngines } from './helpers/engines.js';
import { openStore } from '../src/store/index.js';
import type { NewBinding } from '../src/store/bindings.js';

const T0 = 1_900_000_000_000;

function binding(aor: string, contact: string, o: Partial<NewBinding> = {}): NewBinding {
  return { aor, contact, q: 1, expiresAt: T0 + 3_600_000, callId: 'c1', cseq: 1, source: 'udp:192.0.2.1:5060', idsp: 'sbc1.lab.example', mechanism: 'app-hmac', instance: '', ...o };
}

describeEngines('store hot path', (ctx) => {
  afterAll(() => ctx.cleanup());

  it('the bindings a change returns are those a fresh read gives, ids, times and order included', async () => {
    let now = T0;
    const store = await ctx.open({ now: () => now });
    const aor = "bob';--@lab.example";
    await store.bindings.update(aor, () => ({ commit: [{ op: 'put', binding: binding(aor, 'sip:a@192.0.2.1', { q: 0.5 }) }], result: 1 }));
    now += 1000;
    await store.bindings.update(aor, () => ({ commit: [{ op: 'put', binding: binding(aor, 'sip:b@192.0.2.2', { regId: 1, instance: '<urn:uuid:1>' }) }], result: 1 }));
    now += 1000;
    // refresh a, remove b, add c with the same q as a (order: q, then the older row first)
    const r = await store.bindings.update(aor, (live) => {
      expect(live.map((b) => b.contact)).toEqual(['sip:b@192.0.2.2', 'sip:a@192.0.2.1']);
      return {
        commit: [
          { op: 'remove', contact: 'sip:b@192.0.2.2' },
          { op: 'put', binding: binding(aor, 'sip:c@192.0.2.3', { q: 0.5 }) },
          { op: 'put', binding: binding(aor, 'sip:a@192.0.2.1', { q: 0.5, cseq: 2 }) },
        ],
        result: 'done',
      };
    });
    expect(r.committed).toBe(true);
    expect(r.result).toBe('done');
    expect(r.removed.map((b) => b.contact)).toEqual(['sip:b@192.0.2.2']);
    expect(r.live).toEqual(await store.bindings.current(aor));
    expect(r.live.map((b) => [b.contact, b.cseq, b.createdAt, b.updatedAt])).toEqual([
      ['sip:a@192.0.2.1', 2, T0, T0 + 2000],
      ['sip:c@192.0.2.3', 1, T0 + 2000, T0 + 2000],
    ]);
    await store.close();
  });

  it('a change that throws commits nothing of itself, and does not undo the writes batched with it', async () => {
    const store = await ctx.open({ now: () => T0 });
    const good = store.bindings.update('good@lab.example', () => ({ commit: [{ op: 'put', binding: binding('good@lab.example', 'sip:g@192.0.2.9') }], result: true }));
    const bad = store.bindings.update('bad@lab.example', () => ({
      commit: [
        { op: 'put', binding: binding('bad@lab.example', 'sip:x@192.0.2.8') },
        { op: 'put', binding: binding('other@lab.example', 'sip:y@192.0.2.7') }, // refused: another AoR
      ],
      result: true,
    }));
    const rec = store.registrations.record({ idc: 'good@lab.example', idsp: 'sbc1', ipc: '192.0.2.9', protocol: 'sip', contact: 'sip:g@192.0.2.9', mechanism: 'app-hmac', expiresAt: T0 + 60_000 });
    await expect(bad).rejects.toThrow(/another AoR/);
    await good;
    await rec;
    expect((await store.bindings.current('good@lab.example')).length).toBe(1);
    expect(await store.bindings.current('bad@lab.example')).toEqual([]);
    expect((await store.registrations.forTerminal('good@lab.example')).length).toBe(1);
    await store.close();
  });

  it('a registration record and the failure record it clears are written together; without clearing the failure stays', async () => {
    const store = await ctx.open({ now: () => T0 });
    const reg = { idsp: 'sbc1', ipc: '192.0.2.9', protocol: 'sip', contact: 'sip:g@192.0.2.9', mechanism: 'app-hmac', expiresAt: T0 + 60_000 };
    await store.failures.put({ idc: 'a@lab.example', count: 2, windowStart: T0, lockouts: 0, lockedUntil: 0 });
    await store.failures.put({ idc: 'b@lab.example', count: 2, windowStart: T0, lockouts: 0, lockedUntil: 0 });
    await store.registrations.record({ idc: 'a@lab.example', ...reg }, { clearFailures: true });
    await store.registrations.record({ idc: 'b@lab.example', ...reg });
    expect(await store.failures.get('a@lab.example')).toBeUndefined();
    expect(await store.failures.get('b@lab.example')).toMatchObject({ count: 2 });
    expect((await store.registrations.forTerminal('a@lab.example')).length).toBe(1);
    await store.close();
  });

  it('writes acknowledged before close are there after a reopen; close commits what is queued', async () => {
    const opts = ctx.storeOptions({ now: () => T0 });
    let store = await openStore(opts);
    const pending = Array.from({ length: 50 }, (_, i) =>
      store.registrations.record({ idc: `t${i}@lab.example`, idsp: 'sbc1', ipc: '192.0.2.9', protocol: 'sip', contact: `sip:t${i}@192.0.2.9`, mechanism: '', expiresAt: T0 + 60_000 }),
    );
    await store.close(); // without awaiting the writes first
    await Promise.all(pending);
    store = await openStore(opts);
    expect((await store.registrations.list({}, 0, 100)).total).toBe(50);
    await store.close();
  });

  it('reads bind their parameters: an IDc made of SQL finds nothing and breaks nothing', async () => {
    const store = await ctx.open({ now: () => T0 });
    expect(await store.terminals.key("x' OR '1'='1")).toBeUndefined();
    expect(await store.failures.get("x' OR '1'='1")).toBeUndefined();
    expect(await store.bindings.current("x' OR 1=1 --")).toEqual([]);
    await store.close();
  });
});
