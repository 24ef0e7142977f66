import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LicenceClient, LicenceRequestError } from '../../src/contracts/licence-client.js';
import type { Licence } from '../../src/contracts/licence.js';
import { openPackage } from '../../src/contracts/voicemail-package.js';
import { makeSelfSigned } from '../../src/crypto/certificate.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, basic, BOB, CAROL, DAVE, httpsCall, licenceFixture, toneDeposit, type Answer } from './fixture.js';
import { linearToUlaw, ulawToLinear } from './g711.js';

/**
 * The licence server over HTTPS as the media server, players and attackers
 * reach it: deposit with the service key only, licences to holders only and
 * within their rights, delegation bounded by the grantor, and an audit of all
 * of it with no key in it.
 */
describeEngines('voicemail licence server (HTTPS API)', (ctx) => {
  let store: Store;
  let f: Awaited<ReturnType<typeof licenceFixture>>;
  // the licence server's own log, at trace level: no key or password may appear in it
  let logged = '';
  const logSink = new Writable({ write(chunk: Buffer, _enc, done) { logged += chunk.toString(); done(); } });
  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> => httpsCall({ port: f.running.port, ca: f.certPem }, method, path, headers, body);
  const licence = (id: string, u: { idc: string; password: string }) => call('POST', `/v1/voicemail/messages/${id}/licence`, { authorization: basic(u) });

  beforeAll(async () => {
    const opts = ctx.storeOptions();
    const { openStore } = await import('../../src/store/index.js');
    store = await openStore(opts);
    f = await licenceFixture(store, opts.dataDir, logSink);
  });
  afterAll(async () => {
    await f?.running.app.close();
    await store?.close();
    await ctx.cleanup();
  });

  it('the tests\' G.711 oracle matches the standard\'s table', () => {
    expect([0xff, 0x7f, 0x00, 0x80, 0x70, 0xf0].map(ulawToLinear)).toEqual([0, 0, -32124, 32124, -120, 120]);
    expect(linearToUlaw(0)).toBe(0xff);
    for (let v = -32000; v <= 32000; v += 97) expect(Math.abs(ulawToLinear(linearToUlaw(v)) - v)).toBeLessThanOrEqual(1024);
  });

  it('takes a deposit with the service key only; a retry is answered as done; another message under the same id is refused', async () => {
    const m = toneDeposit(BOB.idc);
    const forged = await call('POST', '/v1/voicemail/messages', { authorization: `Bearer ${'ab'.repeat(32)}` }, m.deposit);
    expect(forged.status).toBe(401);
    expect((await call('POST', '/v1/voicemail/messages', {}, m.deposit)).status).toBe(401);
    expect(await store.voicemail.message(m.deposit.messageId)).toBeUndefined();
    expect(await f.client.deposit(m.deposit)).toEqual({ messageId: m.deposit.messageId, created: true });
    expect(await f.client.deposit(m.deposit)).toEqual({ messageId: m.deposit.messageId, created: false });
    const other = toneDeposit(BOB.idc, {}, 500, 1000);
    const clash = await f.client.deposit({ ...other.deposit, messageId: m.deposit.messageId }).catch((e: LicenceRequestError) => e);
    // the other package names its own id: refused before the id clash is even looked at
    expect(clash).toBeInstanceOf(LicenceRequestError);
    expect((clash as LicenceRequestError).statusCode).toBe(400);
    const audit = await store.audit.list(0, 50, { action: 'voicemail.deposit-refused' });
    expect(audit.items.some((e) => e.detail.reason === 'bad service key')).toBe(true);
  });

  it('refuses a package that does not open under the deposited key, or names another owner', async () => {
    const a = toneDeposit(BOB.idc);
    const b = toneDeposit(BOB.idc);
    const wrongKey = await f.client.deposit({ ...a.deposit, contentKey: b.deposit.contentKey }).catch((e: LicenceRequestError) => e);
    expect((wrongKey as LicenceRequestError).statusCode).toBe(400);
    const wrongOwner = await f.client.deposit({ ...a.deposit, owner: CAROL.idc }).catch((e: LicenceRequestError) => e);
    expect((wrongOwner as LicenceRequestError).statusCode).toBe(400);
    expect(await store.voicemail.message(a.deposit.messageId)).toBeUndefined();
  });

  it('the media client sends its key only to the pinned licence server: an impostor with another certificate gets no request', async () => {
    const other = makeSelfSigned('localhost', ['127.0.0.1'], 1);
    let reached = 0;
    const impostor = createServer({ cert: other.cert, key: other.key }, (_req, res) => {
      reached++;
      res.end('{}');
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    const port = (impostor.address() as { port: number }).port;
    const client = new LicenceClient({ url: `https://127.0.0.1:${port}`, certPem: f.certPem, mediaKey: f.mediaKey });
    const err = await client.deposit(toneDeposit(BOB.idc).deposit).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(reached).toBe(0);
    await new Promise((r) => impostor.close(r));
  });

  it('gives the owner a licence whose key opens the package to the recorded audio; counts plays and refuses after the last', async () => {
    const m = toneDeposit(BOB.idc, { maxPlays: 2 });
    await f.client.deposit(m.deposit);
    const pkg = await call('GET', `/v1/voicemail/messages/${m.deposit.messageId}/package`, { authorization: basic(BOB) });
    expect(pkg.status).toBe(200);
    expect(pkg.raw.equals(m.pkg)).toBe(true);
    const l1 = (await licence(m.deposit.messageId, BOB)).body as unknown as Licence;
    expect(l1.rights.playsLeft).toBe(1);
    const { audio } = openPackage(pkg.raw, Buffer.from(l1.contentKey, 'base64url'));
    expect(audio.equals(m.tone.ulaw)).toBe(true);
    const l2 = await f.client.licence(m.deposit.messageId, BOB.idc, BOB.password);
    expect(l2.rights.playsLeft).toBe(0);
    const spent = await licence(m.deposit.messageId, BOB);
    expect(spent.status).toBe(403);
    expect(spent.body.code).toBe('spent');
    expect(spent.body.contentKey).toBeUndefined();
  });

  it('refuses a licence for another subscriber\'s message, a forged id and a malformed one alike, and a wrong password', async () => {
    const m = toneDeposit(BOB.idc);
    await f.client.deposit(m.deposit);
    const theirs = await licence(m.deposit.messageId, CAROL);
    const forged = await licence(randomBytes(16).toString('hex'), CAROL);
    const malformed = await licence('..%2f..%2fmaster.key', CAROL);
    for (const a of [theirs, forged, malformed]) {
      expect(a.status).toBe(404);
      expect(a.body).toEqual({ statusCode: 404, code: 'no-licence', message: 'no licence for this message' });
    }
    const stranger = await call('GET', `/v1/voicemail/messages/${m.deposit.messageId}/package`, { authorization: basic(CAROL) });
    expect(stranger.body).toEqual({ statusCode: 404, code: 'no-licence', message: 'no licence for this message' });
    expect((await licence(m.deposit.messageId, { idc: BOB.idc, password: 'guess' })).status).toBe(401);
    expect((await call('POST', `/v1/voicemail/messages/${m.deposit.messageId}/licence`)).status).toBe(401);
    // the owner still plays
    expect((await licence(m.deposit.messageId, BOB)).status).toBe(200);
  });

  it('delegation: within the grantor\'s rights only; the delegate plays within its own; a grantor without may-forward cannot', async () => {
    const m = toneDeposit(BOB.idc, { maxPlays: 3 });
    await f.client.deposit(m.deposit);
    const id = m.deposit.messageId;
    const delegate = (from: { idc: string; password: string }, d: Record<string, unknown>) => call('POST', `/v1/voicemail/messages/${id}/delegations`, { authorization: basic(from) }, { expiresAt: null, mayForward: false, mayModify: false, ...d });
    expect((await licence(id, CAROL)).status).toBe(404);
    const tooMany = await delegate(BOB, { to: CAROL.idc, plays: 4 });
    expect(tooMany.status).toBe(403);
    expect(tooMany.body.code).toBe('exceeds-grant');
    const modify = await delegate(BOB, { to: CAROL.idc, plays: 1, mayModify: true });
    expect(modify.body.code).toBe('exceeds-grant');
    const byStranger = await delegate(CAROL, { to: DAVE.idc, plays: 1 });
    expect(byStranger.status).toBe(404);
    const ok = await delegate(BOB, { to: CAROL.idc, plays: 1 });
    expect(ok.status).toBe(201);
    const l = await licence(id, CAROL);
    expect(l.status).toBe(200);
    expect(openPackage(m.pkg, Buffer.from(String(l.body.contentKey), 'base64url')).audio.equals(m.tone.ulaw)).toBe(true);
    expect((await licence(id, CAROL)).body.code).toBe('spent');
    const onward = await delegate(CAROL, { to: DAVE.idc, plays: 1 });
    expect(['spent', 'not-forwardable']).toContain(onward.body.code);
    // dave signs in with his voicemail password (a KS1-only terminal); he still has no licence
    expect((await licence(id, DAVE)).status).toBe(404);
  });

  it('the sender revokes a message it left; the operator may too; nobody gets a licence after', async () => {
    const m = toneDeposit(BOB.idc);
    await f.client.deposit(m.deposit);
    const { LicenceRefused } = await import('../../src/auc/licence/service.js');
    await expect(f.running.service.revoke(m.deposit.messageId, { sender: CAROL.idc }, 'test')).rejects.toBeInstanceOf(LicenceRefused);
    expect((await licence(m.deposit.messageId, BOB)).status).toBe(200);
    await f.running.service.revoke(m.deposit.messageId, { sender: ALICE.idc }, 'test');
    const after = await licence(m.deposit.messageId, BOB);
    expect(after.status).toBe(403);
    expect(after.body.code).toBe('revoked');
  });

  it('locks an identity after repeated wrong passwords without locking out other subscribers from the same address', async () => {
    for (let i = 0; i < 5; i++) expect((await licence(randomBytes(16).toString('hex'), { idc: CAROL.idc, password: `guess-${i}` })).status).toBe(401);
    const locked = await licence(randomBytes(16).toString('hex'), CAROL);
    expect(locked.status).toBe(429);
    const m = toneDeposit(BOB.idc);
    await f.client.deposit(m.deposit);
    expect((await licence(m.deposit.messageId, BOB)).status).toBe(200);
  });

  it('audits grants, plays and refusals, and no content key or password appears in the audit', async () => {
    const all = await store.audit.list(0, 1000, { action: 'voicemail.' });
    const actions = new Set(all.items.map((e) => e.action));
    for (const a of ['voicemail.deposit', 'voicemail.deposit-refused', 'voicemail.play', 'voicemail.refused', 'voicemail.delegate', 'voicemail.revoke', 'voicemail.sign-in-failed']) expect(actions).toContain(a);
    const text = JSON.stringify(all.items) + logged;
    expect(logged).toContain('/v1/voicemail/messages');
    const keys = (await store.db.knex('voicemail_messages').select('id')).length;
    expect(keys).toBeGreaterThan(3);
    for (const p of [BOB.password, CAROL.password, DAVE.password, f.mediaKey]) expect(text).not.toContain(p);
    // every deposited key, as base64url and hex
    for (const r of await store.db.knex('voicemail_messages').select('id')) {
      const k = (await store.voicemail.contentKey(String(r.id)))!.key;
      expect(text).not.toContain(k.toString('base64url'));
      expect(text).not.toContain(k.toString('hex'));
    }
  });
});
