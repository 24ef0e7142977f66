import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositProblem } from '../../src/contracts/licence.js';
import { openStore, type Store } from '../../src/store/index.js';
import { BOB, licenceFixture, toneDeposit } from './fixture.js';

/**
 * Hostile input at the licence listener: malformed deposits (with the right
 * service key, the worst case), Authorization headers, message ids and form
 * bodies get a 4xx, never a 5xx or a crash, and the owner still plays.
 */
describe('voicemail licence listener under hostile input', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-vm-fuzz-'));
  let store: Store;
  let f: Awaited<ReturnType<typeof licenceFixture>>;
  let good: ReturnType<typeof toneDeposit>;

  beforeAll(async () => {
    store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex') });
    f = await licenceFixture(store, dataDir);
    good = toneDeposit(BOB.idc, { maxPlays: 0 });
    await f.client.deposit(good.deposit);
  });
  afterAll(async () => {
    await f?.running.app.close();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('depositProblem names a problem for any mangled deposit and never throws', () => {
    const fields = Object.keys(good.deposit);
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.anything(), (field, value) => {
        const d = { ...good.deposit, [field]: value } as Record<string, unknown>;
        const p = depositProblem(d);
        // a value of the wrong type is always named
        if (typeof value !== typeof (good.deposit as unknown as Record<string, unknown>)[field]) expect(p).toBeTypeOf('string');
      }),
      { numRuns: 500 },
    );
    expect(depositProblem(good.deposit)).toBeUndefined();
    for (const bad of [null, 1, 'x', [], { ...good.deposit, messageId: 'A'.repeat(32) }, { ...good.deposit, rights: { ...good.deposit.rights, maxPlays: -1 } }]) expect(depositProblem(bad)).toBeTypeOf('string');
  });

  it('malformed deposits with the right service key: 4xx, nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.string(), fc.record({ messageId: fc.stringMatching(/^[0-9a-f]{32}$/), package: fc.base64String(), contentKey: fc.string() }, { requiredKeys: [] })), async (body) => {
        const r = await f.running.app.inject({ method: 'POST', url: '/v1/voicemail/messages', headers: { authorization: `Bearer ${f.mediaKey}`, 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
        expect(r.statusCode).toBeGreaterThanOrEqual(400);
        expect(r.statusCode).toBeLessThan(500);
      }),
      { numRuns: 150 },
    );
    expect((await store.voicemail.all(0, 10)).total).toBe(1);
  });

  it('hostile Authorization headers, ids and page requests: 4xx, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), fc.string({ maxLength: 80 }), fc.constantFrom('licence', 'package', 'delegations'), async (auth, id, what) => {
        const url = `/v1/voicemail/messages/${encodeURIComponent(id)}/${what}`;
        const r = await f.running.app.inject({ method: what === 'package' ? 'GET' : 'POST', url, headers: { authorization: auth.replace(/[\r\n]/g, ''), 'content-type': 'application/json' }, payload: what === 'package' ? undefined : '{}' });
        expect(r.statusCode).toBeGreaterThanOrEqual(400);
        expect(r.statusCode).toBeLessThan(500);
        const basic = `Basic ${Buffer.from(`${BOB.idc}:${BOB.password}`).toString('base64')}`;
        const w = await f.running.app.inject({ method: 'POST', url, headers: { authorization: basic, 'content-type': 'application/json' }, payload: auth });
        expect(w.statusCode).toBeLessThan(500);
      }),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), async (cookie, body) => {
        const r = await f.running.app.inject({ method: 'POST', url: '/voicemail/login', headers: { cookie: cookie.replace(/[\r\n]/g, ''), 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
        expect(r.statusCode).toBeGreaterThanOrEqual(400);
        expect(r.statusCode).toBeLessThan(500);
      }),
      { numRuns: 100 },
    );
    const ok = await f.client.licence(good.deposit.messageId, BOB.idc, BOB.password);
    expect(ok.messageId).toBe(good.deposit.messageId);
  });
});
