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

  it('a live binding put again keeps its row (id, creation time) with every field changed; removed and put again in one change it is a new row', async () => {
    let now = T0;
    const store = await ctx.open({ now: () => now });
    const aor = 'refresh@lab.example';
    const c = 'sip:r@192.0.2.9';
    await store.bindings.update(aor, () => ({ commit: [{ op: 'put', binding: binding(aor, c) }], result: 1 }));
    const [first] = await store.bindings.current(aor);
    now += 1000;
    const changed = { q: 0.25, expiresAt: T0 + 7_200_000, callId: 'c2', cseq: 7, source: 'tcp:192.0.2.8:5070', idsp: 'sbc2.lab.example', mechanism: 'tls-psk', instance: '<urn:uuid:9>', regId: 2 };
    const r = await store.bindings.update(aor, () => ({ commit: [{ op: 'put', binding: binding(aor, c, changed) }], result: 1 }));
    expect(r.live).toEqual(await store.bindings.current(aor));
    expect(r.live).toEqual([{ ...first, ...changed, updatedAt: T0 + 1000 }]);
    now += 1000;
    // the same contact removed then put by one decision: not the row read before the change
    const again = await store.bindings.update(aor, () => ({ commit: [{ op: 'remove', contact: c }, { op: 'put', binding: binding(aor, c, { cseq: 8 }) }], result: 1 }));
    expect(again.live).toEqual(await store.bindings.current(aor));
    expect(again.live.map((b) => [b.contact, b.cseq, b.createdAt, b.updatedAt, b.regId])).toEqual([[c, 8, T0 + 2000, T0 + 2000, undefined]]);
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

  it('a deregistration report removes the records of its IDsp, of one protocol and/or contact when given', async () => {
    const store = await ctx.open({ now: () => T0 });
    const rec = (idsp: string, protocol: string, contact: string) =>
      store.registrations.record({ idc: 'd@lab.example', idsp, ipc: '192.0.2.9', protocol, contact, mechanism: '', expiresAt: T0 + 60_000 });
    await Promise.all([rec('sbc1', 'sip', 'sip:a@192.0.2.9'), rec('sbc1', 'sip', 'sip:b@192.0.2.9'), rec('sbc1', 'mgcp', 'gw'), rec('sbc2', 'sip', 'sip:a@192.0.2.9')]);
    const left = async () => (await store.registrations.forTerminal('d@lab.example')).map((r) => `${r.idsp} ${r.protocol} ${r.contact}`).sort();
    // asked in one turn: one batch on both engines
    expect(await Promise.all([store.registrations.remove('d@lab.example', 'sbc1', 'sip', 'sip:a@192.0.2.9'), store.registrations.remove('d@lab.example', 'sbc1', 'sip', "x' OR '1'='1")])).toEqual([1, 0]);
    expect(await left()).toEqual(['sbc1 mgcp gw', 'sbc1 sip sip:b@192.0.2.9', 'sbc2 sip sip:a@192.0.2.9']);
    expect(await store.registrations.remove('d@lab.example', 'sbc1', 'sip')).toBe(1);
    expect(await left()).toEqual(['sbc1 mgcp gw', 'sbc2 sip sip:a@192.0.2.9']);
    expect(await store.registrations.remove('d@lab.example', 'sbc1')).toBe(1);
    expect(await left()).toEqual(['sbc2 sip sip:a@192.0.2.9']);
    await store.close();
  });

  it('a write that fails in a group commit fails alone: the writes batched with it, before and after, are committed', async () => {
    const store = await ctx.open({ now: () => T0 });
    const rec = (idc: string, ipc: string | null) =>
      store.registrations.record({ idc, idsp: 'sbc1', ipc: ipc as string, protocol: 'sip', contact: `sip:${idc}`, mechanism: '', expiresAt: T0 + 60_000 });
    const writes = [rec('g1@lab.example', '192.0.2.1'), rec('bad@lab.example', null), store.failures.put({ idc: 'g2@lab.example', count: 1, windowStart: T0, lockouts: 0, lockedUntil: 0 }), rec('g3@lab.example', '192.0.2.3')];
    const settled = await Promise.allSettled(writes);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(String((settled[1] as PromiseRejectedResult).reason)).not.toContain('bad@lab.example'); // no row value in the error
    expect((await store.registrations.forTerminal('g1@lab.example')).length).toBe(1);
    expect((await store.registrations.forTerminal('g3@lab.example')).length).toBe(1);
    expect(await store.registrations.forTerminal('bad@lab.example')).toEqual([]);
    expect(await store.failures.get('g2@lab.example')).toMatchObject({ count: 1 });
    await store.close();
  });

  it('the Digest answer reads status, SIP password and failure record at once, for provisioned and unknown IDcs alike', async () => {
    const store = await ctx.open({ now: () => T0 });
    const fail = { count: 2, windowStart: T0 - 5000, lockouts: 1, lockedUntil: T0 + 60_000 };
    await store.terminals.create('pw@lab.example', Buffer.alloc(32, 1), 'sip-secret');
    await store.terminals.create('nopw@lab.example', Buffer.alloc(32, 2));
    await store.failures.put({ idc: 'pw@lab.example', ...fail });
    await store.failures.put({ idc: 'ghost@lab.example', ...fail });
    // the password as its bytes, for the AuC to zero once HA1 is hashed
    expect(await store.terminals.digestSecret('pw@lab.example')).toEqual({ terminal: { status: 'active', password: Buffer.from('sip-secret') }, failure: { idc: 'pw@lab.example', ...fail } });
    expect(await store.terminals.digestSecret('nopw@lab.example')).toEqual({ terminal: { status: 'active' } });
    // not provisioned: no terminal, and the failure record (of a deleted terminal, here) still read
    expect(await store.terminals.digestSecret('ghost@lab.example')).toEqual({ failure: { idc: 'ghost@lab.example', ...fail } });
    expect(await store.terminals.digestSecret("x' OR '1'='1")).toEqual({});
    await store.close();
  });

  it('a KS1 vector reads key, status and failure record at once, for provisioned and unknown IDcs alike', async () => {
    const store = await ctx.open({ now: () => T0 });
    const fail = { count: 3, windowStart: T0 - 7000, lockouts: 2, lockedUntil: T0 + 90_000 };
    await store.terminals.create('k1@lab.example', Buffer.alloc(32, 7));
    await store.terminals.create('k2@lab.example', Buffer.alloc(32, 8));
    await store.terminals.setStatus('k2@lab.example', 'disabled');
    await store.failures.put({ idc: 'k1@lab.example', ...fail });
    await store.failures.put({ idc: 'gone@lab.example', ...fail });
    expect(await store.terminals.vectorKey('k1@lab.example')).toEqual({ terminal: { status: 'active', key: Buffer.alloc(32, 7) }, failure: { idc: 'k1@lab.example', ...fail } });
    expect(await store.terminals.vectorKey('k2@lab.example')).toEqual({ terminal: { status: 'disabled', key: Buffer.alloc(32, 8) } });
    // not provisioned: no terminal, and the failure record (of a deleted terminal, here) still read
    expect(await store.terminals.vectorKey('gone@lab.example')).toEqual({ failure: { idc: 'gone@lab.example', ...fail } });
    expect(await store.terminals.vectorKey("x' OR '1'='1")).toEqual({});
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
