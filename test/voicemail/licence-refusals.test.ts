import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Licence } from '../../src/contracts/licence.js';
import { openPackage } from '../../src/contracts/voicemail-package.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';
import { basic, BOB, CAROL, httpsCall, licenceFixture, toneDeposit, type Answer } from './fixture.js';

/** The attacker's source: another loopback address than the subscribers' 127.0.0.1. */
const ATTACKER = '127.0.0.2';
const NO_LICENCE = { statusCode: 404, code: 'no-licence', message: 'no licence for this message' };

/**
 * The licence listener's refusals as an attacker meets them, over HTTPS
 * (the API and the page's plain HTTP requests, no browser): ids that cannot
 * be told apart by their answer, every refusal in the operator's audit, the
 * last play spent once when asked for at once, and a sign-in that answers the
 * same whatever was wrong.
 */
describeEngines('voicemail licence server: refusals as the attacker meets them', (ctx) => {
  let store: Store;
  let f: Awaited<ReturnType<typeof licenceFixture>>;
  const ERIN = { idc: 'erin@lab.example', password: 'erin-sip-secret' };
  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown, from?: string): Promise<Answer> =>
    httpsCall({ port: f.running.port, ca: f.certPem }, method, path, headers, body, from);
  const origin = () => `https://127.0.0.1:${f.running.port}`;
  const cookieOf = (a: Answer, name: string) => (a.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1);

  /** The sign-in form as a browser posts it: the form's nonce (cookie and field), from this origin. */
  async function signIn(u: { idc: string; password: string }, from?: string): Promise<Answer> {
    const form = await call('GET', '/voicemail/login', {}, undefined, from);
    const nonce = cookieOf(form, 'ks_voicemail_login')!;
    expect(form.raw.toString()).toContain(nonce);
    const body = new URLSearchParams({ _login: nonce, idc: u.idc, password: u.password }).toString();
    return call('POST', '/voicemail/login', { cookie: `ks_voicemail_login=${nonce}`, origin: origin(), 'content-type': 'application/x-www-form-urlencoded' }, body, from);
  }

  /** A page session: its cookie and the CSRF token the page carries. */
  async function session(u: { idc: string; password: string }, from?: string): Promise<{ cookie: string; csrf: string }> {
    const res = await signIn(u, from);
    expect(res.status).toBe(303);
    const cookie = `ks_voicemail=${cookieOf(res, 'ks_voicemail')!}`;
    const page = await call('GET', '/voicemail', { cookie }, undefined, from);
    const csrf = /<meta name="ks-csrf" content="([^"]+)"/.exec(page.raw.toString())![1]!;
    return { cookie, csrf };
  }

  const refusals = async (actor: string, source: string) =>
    (await store.audit.list(0, 1000, { action: 'voicemail.refused', actor })).items.filter((e) => e.detail.source === source);

  beforeAll(async () => {
    const opts = ctx.storeOptions();
    const { openStore } = await import('../../src/store/index.js');
    store = await openStore(opts);
    f = await licenceFixture(store, opts.dataDir);
    await store.terminals.create(ERIN.idc, randomBytes(32), ERIN.password);
    await store.terminals.setStatus(ERIN.idc, 'disabled');
  });
  afterAll(async () => {
    await f?.running.app.close();
    await store?.close();
    await ctx.cleanup();
  });

  it('a licence or package for another subscriber\'s message, a forged id or a malformed one: the same 404 on the API and the page, each refusal audited', async () => {
    const m = toneDeposit(BOB.idc);
    await f.client.deposit(m.deposit);
    const malformed = '..%2f..%2fmaster.key';
    const ids = [m.deposit.messageId, randomBytes(16).toString('hex'), malformed];
    const page = await session(CAROL, ATTACKER);
    const asked: Array<[string, string, Promise<Answer>]> = [];
    for (const id of ids) {
      asked.push(['licence', id, call('POST', `/v1/voicemail/messages/${id}/licence`, { authorization: basic(CAROL) }, undefined, ATTACKER)]);
      asked.push(['package', id, call('GET', `/v1/voicemail/messages/${id}/package`, { authorization: basic(CAROL) }, undefined, ATTACKER)]);
      asked.push(['licence', id, call('POST', `/voicemail/m/${id}/licence`, { cookie: page.cookie, origin: origin(), 'x-ks-csrf': page.csrf }, undefined, ATTACKER)]);
      asked.push(['package', id, call('GET', `/voicemail/m/${id}/package`, { cookie: page.cookie }, undefined, ATTACKER)]);
    }
    const answers = await Promise.all(asked.map(([, , a]) => a));
    const first = answers[0]!.raw;
    for (const [i, a] of answers.entries()) {
      expect(a.status, asked[i]!.slice(0, 2).join(' ')).toBe(404);
      expect(a.body).toEqual(NO_LICENCE);
      expect(a.raw.equals(first)).toBe(true);
    }
    // the operator's audit: one refusal per request, with the op, the id as asked and the attacker's address
    const seen = (await refusals(`subscriber:${CAROL.idc}`, ATTACKER)).map((e) => `${String(e.detail.op)} ${e.target} ${String(e.detail.reason)}`).sort();
    const want = asked.map(([op, id]) => `${op} ${decodeURIComponent(id)} no-licence`).sort();
    expect(seen).toEqual(want);
    // the owner still gets both, and the key opens the package
    const pkg = await call('GET', `/v1/voicemail/messages/${m.deposit.messageId}/package`, { authorization: basic(BOB) });
    const lic = await call('POST', `/v1/voicemail/messages/${m.deposit.messageId}/licence`, { authorization: basic(BOB) });
    expect([pkg.status, lic.status]).toEqual([200, 200]);
    expect(openPackage(pkg.raw, Buffer.from(String(lic.body.contentKey), 'base64url')).audio.equals(m.tone.ulaw)).toBe(true);
  });

  it('a malformed id on the delegation API and the page\'s forward, delete and revoke: the same answer as an unknown id, audited alike', async () => {
    const unknown = randomBytes(16).toString('hex');
    const malformed = '..%2f..%2fmaster.key';
    const page = await session(CAROL, ATTACKER);
    const form = { cookie: page.cookie, origin: origin(), 'x-ks-csrf': page.csrf, 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams({ _csrf: page.csrf, to: BOB.idc, plays: '1', expiresDays: '' }).toString();
    const ask = (id: string): Array<[string, Promise<Answer>]> => [
      ['delegate', call('POST', `/v1/voicemail/messages/${id}/delegations`, { authorization: basic(CAROL) }, { to: BOB.idc, plays: 1, expiresAt: null, mayForward: false, mayModify: false }, ATTACKER)],
      ['delegate', call('POST', `/voicemail/m/${id}/forward`, form, body, ATTACKER)],
      ['delete', call('POST', `/voicemail/m/${id}/delete`, form, body, ATTACKER)],
      ['revoke', call('POST', `/voicemail/m/${id}/revoke`, form, body, ATTACKER)],
    ];
    const asked = [...ask(unknown), ...ask(malformed)];
    const answers = await Promise.all(asked.map(([, a]) => a));
    const half = answers.length / 2;
    for (let i = 0; i < half; i++) {
      const [u, m] = [answers[i]!, answers[half + i]!];
      expect(u.status, asked[i]![0]).toBe(404);
      expect([m.status, m.raw.toString()], asked[i]![0]).toEqual([u.status, u.raw.toString()]);
    }
    const seen = (await refusals(`subscriber:${CAROL.idc}`, ATTACKER)).filter((e) => [unknown, decodeURIComponent(malformed)].includes(e.target) && ['delegate', 'delete', 'revoke'].includes(String(e.detail.op))).map((e) => `${String(e.detail.op)} ${e.target}`).sort();
    expect(seen).toEqual(asked.map(([op], i) => `${op} ${i < half ? unknown : decodeURIComponent(malformed)}`).sort());
  });

  it('the last play asked for at once by several players over HTTPS: one licence, every other 403 spent', async () => {
    const m = toneDeposit(BOB.idc, { maxPlays: 1 });
    await f.client.deposit(m.deposit);
    const id = m.deposit.messageId;
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('POST', `/v1/voicemail/messages/${id}/licence`, { authorization: basic(BOB) })));
    const played = answers.filter((a) => a.status === 200);
    const spent = answers.filter((a) => a.status === 403 && a.body.code === 'spent' && a.body.contentKey === undefined);
    expect(played).toHaveLength(1);
    expect(spent).toHaveLength(answers.length - 1);
    const l = played[0]!.body as unknown as Licence;
    expect(l.rights.playsLeft).toBe(0);
    expect(openPackage(m.pkg, Buffer.from(l.contentKey, 'base64url')).audio.equals(m.tone.ulaw)).toBe(true);
    // the operator sees one play and the rest refused as spent
    const audit = (await store.audit.list(0, 1000, { action: 'voicemail.', target: id })).items;
    expect(audit.filter((e) => e.action === 'voicemail.play')).toHaveLength(1);
    expect(audit.filter((e) => e.action === 'voicemail.refused' && e.detail.reason === 'spent')).toHaveLength(answers.length - 1);
  });

  it('a delegation beyond the grantor\'s rights is refused exceeds-grant and audited with what was asked; within them it is made', async () => {
    const m = toneDeposit(BOB.idc, { maxPlays: 2, mayModify: false });
    await f.client.deposit(m.deposit);
    const id = m.deposit.messageId;
    const delegate = (d: Record<string, unknown>) => call('POST', `/v1/voicemail/messages/${id}/delegations`, { authorization: basic(BOB) }, { to: CAROL.idc, expiresAt: null, mayForward: false, mayModify: false, ...d }, ATTACKER);
    for (const over of [{ plays: 3 }, { plays: 1, mayModify: true }]) {
      const a = await delegate(over);
      expect(a.status).toBe(403);
      expect(a.body.code).toBe('exceeds-grant');
    }
    const audit = (await refusals(`subscriber:${BOB.idc}`, ATTACKER)).filter((e) => e.target === id);
    expect(audit.map((e) => [e.detail.op, e.detail.reason, e.detail.to, e.detail.plays, e.detail.mayModify]).sort()).toEqual([
      ['delegate', 'exceeds-grant', CAROL.idc, 1, true],
      ['delegate', 'exceeds-grant', CAROL.idc, 3, false],
    ]);
    expect((await call('POST', `/v1/voicemail/messages/${id}/licence`, { authorization: basic(CAROL) })).status).toBe(404);
    expect((await delegate({ plays: 2 })).status).toBe(201);
    expect((await call('POST', `/v1/voicemail/messages/${id}/licence`, { authorization: basic(CAROL) })).status).toBe(200);
  });

  it('an unknown identity, a disabled one and a wrong password get the same 401 from the API and the same page from the sign-in form', async () => {
    const m = toneDeposit(BOB.idc);
    await f.client.deposit(m.deposit);
    const tries = [{ idc: 'mallory@lab.example', password: 'mallory-guess' }, ERIN, { idc: BOB.idc, password: 'bob-guess' }];
    const api = await Promise.all(tries.map((u) => call('POST', `/v1/voicemail/messages/${m.deposit.messageId}/licence`, { authorization: basic(u) }, undefined, ATTACKER)));
    for (const a of api) {
      expect(a.status).toBe(401);
      expect([a.raw.toString(), a.headers['www-authenticate']]).toEqual([api[0]!.raw.toString(), api[0]!.headers['www-authenticate']]);
    }
    const web = [];
    for (const u of tries) web.push(await signIn(u, ATTACKER));
    // each page carries its own fresh form nonce; all else must be the same
    const shown = web.map((a) => {
      const nonce = cookieOf(a, 'ks_voicemail_login')!;
      expect(cookieOf(a, 'ks_voicemail')).toBeUndefined();
      return [a.status, a.raw.toString().replaceAll(nonce, 'NONCE')];
    });
    expect(shown[0]![0]).toBe(401);
    expect(shown[1]).toEqual(shown[0]);
    expect(shown[2]).toEqual(shown[0]);
    // the subscriber whose password was guessed still signs in and plays
    expect((await signIn(BOB)).status).toBe(303);
    expect((await call('POST', `/v1/voicemail/messages/${m.deposit.messageId}/licence`, { authorization: basic(BOB) })).status).toBe(200);
  });
});
