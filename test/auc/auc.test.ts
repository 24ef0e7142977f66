import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { ReportRefusedError } from '../../src/contracts/auc.js';
import { f, unwrap } from '../../src/crypto/ks1.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';

describeEngines('AuC core', (ctx) => {
  let store: Store;
  let auc: Auc;
  let t = 1_700_000_000_000;
  const kc = randomBytes(32);
  const ksp = randomBytes(32);
  const idc = 'alice@lab.example';
  const idsp = 'sbc1.lab.example';
  /** A registration report for alice at `ipc`, on the vector of `rand`. */
  const reg = (ipc: string, rand: Buffer) => ({ idc, idsp, ipc, protocol: 'sip', contact: `<sip:alice@${ipc}:5060>`, mechanism: 'app-hmac', expiresAt: t + 3600_000, rand });

  beforeAll(async () => {
    store = await ctx.open({ now: () => t });
    auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 10, maxSeconds: 25 } });
    await store.terminals.create(idc, kc, 'secret pw');
    await store.proxies.create(idsp, ksp);
  });
  afterAll(async () => {
    await store.close();
    await ctx.cleanup();
  });

  it('makes a vector both sides can open, for a fresh session key each time', async () => {
    const a = await auc.vector({ idc, idsp });
    const b = await auc.vector({ idc, idsp });
    if (!a.ok || !b.ok) throw new Error('expected vectors');
    expect(a.vector.rand).toHaveLength(16);
    expect(a.vector.authenticator.equals(f(kc, a.vector.rand, idc))).toBe(true);
    const binding = { idc, idsp, rand: a.vector.rand };
    const fromKc = unwrap(kc, a.vector.ekc, binding);
    const fromKsp = unwrap(ksp, a.vector.eksp, binding);
    expect(fromKc).toHaveLength(32);
    expect(fromKc!.equals(fromKsp!)).toBe(true);
    const other = unwrap(kc, b.vector.ekc, { idc, idsp, rand: b.vector.rand });
    expect(other!.equals(fromKc!)).toBe(false);
    expect(unwrap(kc, a.vector.ekc, { idc: 'mallory@lab.example', idsp, rand: a.vector.rand })).toBeUndefined();
    expect(a.vector.expiresAt).toBe(t + 30_000);
    expect(await store.challenges.get(a.vector.rand.toString('base64url'))).toMatchObject({ idc, idsp, used: false });
    // One random draw per vector is cut into the Rand, the session key and the two GCM nonces: none may share bytes.
    const nonceKc = a.vector.ekc.subarray(0, 12);
    const nonceKsp = a.vector.eksp.subarray(0, 12);
    const parts = [a.vector.rand, fromKc!, nonceKc, nonceKsp, b.vector.rand, b.vector.ekc.subarray(0, 12)].map((x) => x.toString('hex'));
    expect(new Set(parts).size).toBe(parts.length);
    for (const x of parts) for (const y of parts) if (x !== y) expect(x.includes(y.slice(0, 16)) || y.includes(x.slice(0, 16))).toBe(false);
  });

  it('refuses unknown or disabled terminals and proxies', async () => {
    expect(await auc.vector({ idc: 'nobody@lab.example', idsp })).toEqual({ ok: false, reason: 'unknown-terminal' });
    expect(await auc.vector({ idc, idsp: 'rogue.example' })).toEqual({ ok: false, reason: 'unknown-proxy' });
    await store.terminals.setStatus(idc, 'disabled');
    expect(await auc.vector({ idc, idsp })).toEqual({ ok: false, reason: 'disabled' });
    await store.terminals.setStatus(idc, 'active');
    await store.proxies.setStatus(idsp, 'disabled');
    // a disabled SBC is refused as an unknown one: its terminals are not to blame (they would get decoys and count failures)
    expect(await auc.vector({ idc, idsp })).toEqual({ ok: false, reason: 'unknown-proxy' });
    await store.proxies.setStatus(idsp, 'active');
  });

  it("seals E_Ksp under the SBC's new key from the first vector after its key is rotated, and never under the old one again", async () => {
    const before = await auc.vector({ idc, idsp });
    if (!before.ok) throw new Error('expected a vector');
    expect(unwrap(ksp, before.vector.eksp, { idc, idsp, rand: before.vector.rand })).toHaveLength(32);
    const rotated = randomBytes(32);
    await store.proxies.rotate(idsp, rotated);
    try {
      const after = await auc.vector({ idc, idsp });
      if (!after.ok) throw new Error('expected a vector');
      const binding = { idc, idsp, rand: after.vector.rand };
      expect(unwrap(ksp, after.vector.eksp, binding)).toBeUndefined();
      expect(unwrap(rotated, after.vector.eksp, binding)!.equals(unwrap(kc, after.vector.ekc, binding)!)).toBe(true);
    } finally {
      await store.proxies.rotate(idsp, ksp);
    }
    const back = await auc.vector({ idc, idsp });
    if (!back.ok) throw new Error('expected a vector');
    expect(unwrap(ksp, back.vector.eksp, { idc, idsp, rand: back.vector.rand })).toHaveLength(32);
  });

  it('records a registration and consumes its Rand once', async () => {
    const v = await auc.vector({ idc, idsp });
    if (!v.ok) throw new Error('expected a vector');
    await auc.registered({ idc, idsp, ipc: '192.0.2.10', protocol: 'sip', contact: '<sip:alice@192.0.2.10:5060>', mechanism: 'app-hmac', expiresAt: t + 3600_000, rand: v.vector.rand });
    expect(await store.challenges.get(v.vector.rand.toString('base64url'))).toMatchObject({ used: true });
    expect(await store.registrations.forTerminal(idc)).toEqual([expect.objectContaining({ ipc: '192.0.2.10', mechanism: 'app-hmac', protocol: 'sip' })]);
    await auc.deregistered({ idc, idsp, protocol: 'sip', contact: '<sip:alice@192.0.2.10:5060>' });
    expect(await store.registrations.forTerminal(idc)).toEqual([]);
  });

  it('takes one report per Rand: a second registration or failure on it is refused and changes nothing', async () => {
    for (const from of [undefined, 'radius:127.0.0.1']) {
      const v = await auc.vector({ idc, idsp }, from);
      if (!v.ok) throw new Error('expected a vector');
      await auc.registered(reg('192.0.2.10', v.vector.rand), from);
      // the same Rand again (a softswitch replaying it, or anyone who holds its secret): nothing proves this contact
      await expect(auc.registered(reg('198.51.100.66', v.vector.rand), from)).rejects.toBeInstanceOf(ReportRefusedError);
      expect((await store.registrations.forTerminal(idc)).map((r) => r.ipc)).toEqual(['192.0.2.10']);
      // a Rand the AuC never issued proves nothing either
      await expect(auc.registered(reg('198.51.100.67', randomBytes(16)), from)).rejects.toBeInstanceOf(ReportRefusedError);
      // a failure reported on a Rand already used counts nothing
      expect(await auc.failed({ idc, idsp, rand: v.vector.rand }, from)).toEqual({ locked: false });
      expect(await store.failures.get(idc)).toBeUndefined();
      // and a Rand reported as failed cannot then be reported as a registration
      const w = await auc.vector({ idc, idsp }, from);
      if (!w.ok) throw new Error('expected a vector');
      expect(await auc.failed({ idc, idsp, rand: w.vector.rand }, from)).toEqual({ locked: false });
      expect((await store.failures.get(idc))?.count).toBe(1);
      await expect(auc.registered(reg('198.51.100.68', w.vector.rand), from)).rejects.toBeInstanceOf(ReportRefusedError);
      expect((await store.failures.get(idc))?.count).toBe(1);
      expect((await store.registrations.forTerminal(idc)).map((r) => r.ipc)).toEqual(['192.0.2.10']);
      await auc.deregistered({ idc, idsp, protocol: 'sip', contact: '<sip:alice@192.0.2.10:5060>' });
      await store.failures.clear(idc);
    }
  });

  it('refuses a report on a Rand whose challenge expired, and records nothing; one in time is taken', async () => {
    const late = await auc.vector({ idc, idsp });
    const inTime = await auc.vector({ idc, idsp });
    if (!late.ok || !inTime.ok) throw new Error('expected vectors');
    await auc.registered(reg('192.0.2.30', inTime.vector.rand));
    t += 31_000; // past challengeTtlSeconds
    try {
      await expect(auc.registered(reg('198.51.100.69', late.vector.rand))).rejects.toBeInstanceOf(ReportRefusedError);
      expect((await store.registrations.forTerminal(idc)).map((r) => r.ipc)).toEqual(['192.0.2.30']);
    } finally {
      await auc.deregistered({ idc, idsp, protocol: 'sip', contact: '<sip:alice@192.0.2.30:5060>' });
    }
  });

  it('locks an IDc after repeated failures, with back-off, and unlocks on time', async () => {
    expect(await auc.failed({ idc, idsp })).toEqual({ locked: false });
    expect(await auc.failed({ idc, idsp })).toEqual({ locked: false });
    expect(await auc.failed({ idc, idsp })).toEqual({ locked: true, retryAfterSeconds: 10 });
    expect(await auc.vector({ idc, idsp })).toEqual({ ok: false, reason: 'locked', retryAfterSeconds: 10 });
    expect((await auc.digest({ idc, username: 'alice', realm: 'lab.example', algorithm: 'MD5' })).ok).toBe(false);
    t += 10_001;
    expect((await auc.vector({ idc, idsp })).ok).toBe(true);
    // a second lockout lasts twice as long, capped at maxSeconds
    for (let i = 0; i < 2; i++) expect((await auc.failed({ idc, idsp })).locked).toBe(false);
    expect(await auc.failed({ idc, idsp })).toEqual({ locked: true, retryAfterSeconds: 20 });
    t += 20_001;
    for (let i = 0; i < 2; i++) await auc.failed({ idc, idsp });
    expect(await auc.failed({ idc, idsp })).toEqual({ locked: true, retryAfterSeconds: 25 });
    t += 25_001;
    // a success clears the record
    await auc.failed({ idc, idsp });
    await auc.registered({ idc, idsp, ipc: '192.0.2.10', protocol: 'sip', contact: '', mechanism: '', expiresAt: t + 1000 });
    expect(await store.failures.get(idc)).toBeUndefined();
    // failures spread beyond the window do not lock
    for (let i = 0; i < 5; i++) {
      expect((await auc.failed({ idc, idsp })).locked).toBe(false);
      t += 31_000;
    }
  });

  it('gives Digest HA1 for the whole AoR or its user part, never the password', async () => {
    const md5 = await auc.digest({ idc, username: 'alice', realm: 'lab.example', algorithm: 'MD5' });
    // the answer says whether a success must be reported to clear failures (docs/auc.md, "Refresh reports")
    const pending = (await store.failures.get(idc)) !== undefined;
    expect(md5).toEqual({ ok: true, ha1: createHash('md5').update('alice:lab.example:secret pw').digest('hex'), failuresPending: pending });
    const sha = await auc.digest({ idc, username: idc, realm: 'lab.example', algorithm: 'SHA-256' });
    expect(sha).toEqual({ ok: true, ha1: createHash('sha256').update(`${idc}:lab.example:secret pw`).digest('hex'), failuresPending: pending });
    expect((await auc.digest({ idc, username: 'bob', realm: 'lab.example', algorithm: 'MD5' })).ok).toBe(false);
    await store.terminals.create('nopw@lab.example', randomBytes(32));
    expect(await auc.digest({ idc: 'nopw@lab.example', username: 'nopw', realm: 'r', algorithm: 'MD5' })).toEqual({ ok: false, reason: 'no-sip-password' });
  });

  it('zeroes the SIP password it opened once HA1 is hashed, refused or not', async () => {
    const opened: Buffer[] = [];
    const open = store.vault.open.bind(store.vault);
    const spy = vi.spyOn(store.vault, 'open').mockImplementation((sealed, binding) => {
      const b = open(sealed, binding);
      opened.push(b);
      return b;
    });
    try {
      const h235 = await auc.digest({ idc, username: 'alice', realm: 'lab.example', algorithm: 'H235-SHA1' });
      expect(h235).toMatchObject({ ok: true, ha1: createHash('sha1').update('secret pw').digest('hex') });
      expect((await auc.digest({ idc, username: 'alice', realm: 'lab.example', algorithm: 'MD5' })).ok).toBe(true);
      await store.terminals.setStatus(idc, 'disabled');
      expect(await auc.digest({ idc, username: 'alice', realm: 'lab.example', algorithm: 'SHA-256' })).toEqual({ ok: false, reason: 'disabled' });
      await store.terminals.setStatus(idc, 'active');
      expect(opened).toHaveLength(3);
      for (const b of opened) expect(b.equals(Buffer.alloc(b.length))).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
});
