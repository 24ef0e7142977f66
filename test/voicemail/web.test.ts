import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB_CSP } from '../../src/auc/licence/server.js';
import { openStore, type Store } from '../../src/store/index.js';
import { randomBytes } from 'node:crypto';
import { ALICE, BOB, CAROL, DAVE, licenceFixture, toneDeposit } from './fixture.js';

/** The page's document, as the functions run in the browser (page.evaluate) see it; the tests compile without the DOM library. */
declare const document: { querySelector(s: string): { getAttribute(n: string): string | null } | null };

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];
if (!hasChromium) console.warn(`[keyswitch tests] ${CHROMIUM} not found: the voicemail page's browser tests are SKIPPED (apt-get install chromium)`);

type User = { idc: string; password: string };

/**
 * The subscribers' voicemail page in headless Chromium against the licence
 * server: sign in, see the message, play it (package and licence fetched,
 * decrypted with WebCrypto, G.711 decoded in the page) with the decoded
 * samples compared to the recorded tone; a third party without a licence is
 * refused, a delegated one plays within its rights, a delegation beyond the
 * grantor's is refused, plays run out, the sender revokes, the owner deletes.
 */
describe.skipIf(!hasChromium)(`voicemail web page in Chromium${hasChromium ? '' : ' (skipped: no /usr/bin/chromium)'}`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-vm-web-'));
  let store: Store;
  let f: Awaited<ReturnType<typeof licenceFixture>>;
  let browser: Browser;
  let base: string;
  const pages = new Map<string, { ctx: BrowserContext; page: Page; errors: string[] }>();
  let m1: ReturnType<typeof toneDeposit>;
  let m2: ReturnType<typeof toneDeposit>;

  async function as(u: User): Promise<Page> {
    let p = pages.get(u.idc);
    if (!p) {
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true, timezoneId: 'UTC', locale: 'en-GB' });
      const page = await ctx.newPage();
      page.setDefaultTimeout(15_000);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      p = { ctx, page, errors };
      pages.set(u.idc, p);
      await page.goto(`${base}/voicemail`);
      expect(new URL(page.url()).pathname).toBe('/voicemail/login');
      await page.fill('#idc', u.idc);
      await page.fill('#password', u.password);
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}/voicemail`);
    } else {
      await p.page.goto(`${base}/voicemail`);
    }
    return p.page;
  }

  /** Clicks Play on a message's row and waits for the page's verdict: the decoded samples, or the refusal text. */
  async function play(page: Page, id: string): Promise<{ state: string; text: string; pcm?: Int16Array; playsLeft?: string }> {
    await page.click(`button[data-play="${id}"]`);
    const out = page.locator(`output.player[data-message="${id}"]`);
    await page.waitForFunction((sel) => ['decoded', 'refused'].includes(document.querySelector(sel)?.getAttribute('data-state') ?? ''), `output.player[data-message="${id}"]`);
    const state = (await out.getAttribute('data-state'))!;
    const text = (await out.textContent()) ?? '';
    if (state !== 'decoded') return { state, text };
    const b = Buffer.from((await out.getAttribute('data-pcm'))!, 'base64');
    const pcm = new Int16Array(b.buffer, b.byteOffset, b.length / 2);
    expect(Number(await out.getAttribute('data-samples'))).toBe(pcm.length);
    return { state, text, pcm, playsLeft: (await out.getAttribute('data-plays-left')) ?? '' };
  }

  /** A request from the page itself, with its session and CSRF token: what a script in a signed-in page could do. */
  const fromPage = (page: Page, path: string, method = 'POST', csrf = true) =>
    page.evaluate(
      async ([p, m, c]) => {
        const token = document.querySelector('meta[name="ks-csrf"]')?.getAttribute('content') ?? '';
        const r = await fetch(p as string, { method: m as string, headers: c ? { 'x-ks-csrf': token } : {} });
        return { status: r.status, body: await r.text() };
      },
      [path, method, csrf] as const,
    );

  beforeAll(async () => {
    store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex') });
    f = await licenceFixture(store, dataDir);
    base = `https://127.0.0.1:${f.running.port}`;
    m1 = toneDeposit(BOB.idc, { maxPlays: 2, mayForward: true }, 2000, 440);
    m2 = toneDeposit(BOB.idc, { maxPlays: 0, mayForward: false }, 500, 1000);
    await f.client.deposit(m1.deposit);
    await f.client.deposit(m2.deposit);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await f?.running.app.close();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the owner signs in, sees the message with caller, length and rights left, and plays it: the decoded samples are the recorded tone', async () => {
    const page = await as(BOB);
    const row = page.locator(`#inbox tr[data-message="${m1.deposit.messageId}"]`);
    await expect(row.textContent()).resolves.toContain('Alice');
    await expect(row.textContent()).resolves.toContain('2.0 s');
    expect((await row.locator('.plays').textContent())!.trim()).toBe('2');
    const r = await play(page, m1.deposit.messageId);
    expect(r.state, r.text).toBe('decoded');
    expect(r.pcm!.length).toBe(16000);
    expect(Buffer.from(r.pcm!.buffer, r.pcm!.byteOffset, r.pcm!.byteLength).equals(Buffer.from(m1.tone.pcm.buffer))).toBe(true);
    expect(r.playsLeft).toBe('1');
    expect((await row.locator('.plays').textContent())!.trim()).toBe('1');
    expect(pages.get(BOB.idc)!.errors).toEqual([]);
    const cookies = await pages.get(BOB.idc)!.ctx.cookies(`${base}/voicemail`);
    const session = cookies.find((c) => c.name === 'ks_voicemail')!;
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/voicemail' });
  });

  it('serves the page with a CSP of its own origin only, and refuses a licence request without the session\'s CSRF token, or from another site', async () => {
    const page = await as(BOB);
    const res = await page.request.get(`${base}/voicemail`);
    expect(res.headers()['content-security-policy']).toBe(WEB_CSP);
    expect(res.headers()['strict-transport-security']).toBeDefined();
    const noCsrf = await fromPage(page, `/voicemail/m/${m2.deposit.messageId}/licence`, 'POST', false);
    expect(noCsrf.status).toBe(403);
    // the session's cookie and its CSRF token, sent from another site: the Origin (or Sec-Fetch-Site) refuses it
    const token = await page.evaluate(() => document.querySelector('meta[name="ks-csrf"]')?.getAttribute('content') ?? '');
    expect(token).not.toBe('');
    const crossSite: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of crossSite) {
      const cross = await page.request.post(`${base}/voicemail/m/${m2.deposit.messageId}/revoke`, { headers: { 'x-ks-csrf': token, ...headers } });
      expect(cross.status(), JSON.stringify(headers)).toBe(403);
      expect(await cross.json()).toMatchObject({ code: 'csrf' });
    }
    // without a session at all
    const stranger = await browser.newContext({ ignoreHTTPSErrors: true });
    const anon = await stranger.request.get(`${base}/voicemail/m/${m2.deposit.messageId}/package`);
    expect(anon.status()).toBe(401);
    expect((await anon.body()).length).toBeLessThan(200);
    await stranger.close();
  });

  it('a third party without a licence does not see the message and is refused its package and licence, as for a forged id', async () => {
    const page = await as(CAROL);
    expect(await page.locator(`tr[data-message="${m1.deposit.messageId}"]`).count()).toBe(0);
    const lic = await fromPage(page, `/voicemail/m/${m1.deposit.messageId}/licence`);
    const forged = await fromPage(page, `/voicemail/m/${randomBytes(16).toString('hex')}/licence`);
    const pkg = await fromPage(page, `/voicemail/m/${m1.deposit.messageId}/package`, 'GET');
    for (const a of [lic, forged, pkg]) {
      expect(a.status).toBe(404);
      expect(JSON.parse(a.body).code).toBe('no-licence');
    }
  });

  it('a delegation beyond the grantor\'s rights is refused; within them the delegate plays, within its own', async () => {
    const page = await as(BOB);
    const row = page.locator(`#inbox tr[data-message="${m1.deposit.messageId}"]`);
    await row.locator('summary').click();
    await row.locator('input[name=to]').fill(CAROL.idc);
    await row.locator('input[name=plays]').fill('2');
    await row.locator('form.forward button[type=submit]').click();
    await page.waitForLoadState();
    expect(await page.textContent('main')).toContain('exceeds your rights');
    await page.goto(`${base}/voicemail`);
    await row.locator('summary').click();
    await row.locator('input[name=to]').fill(CAROL.idc);
    await row.locator('input[name=plays]').fill('1');
    await row.locator('form.forward button[type=submit]').click();
    await page.waitForURL(`${base}/voicemail?done=forwarded`);
    // a message the caller made private has no forward form, and its delegation is refused if forced
    expect(await page.locator(`#inbox tr[data-message="${m2.deposit.messageId}"] form.forward`).count()).toBe(0);
    const forced = await page.evaluate(async ([id]) => {
      const token = document.querySelector('meta[name="ks-csrf"]')!.getAttribute('content')!;
      const r = await fetch(`/voicemail/m/${id}/forward`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: token, to: 'carol@lab.example', plays: '1' }) });
      return r.status;
    }, [m2.deposit.messageId]);
    expect(forced).toBe(403);

    const carol = await as(CAROL);
    const crow = carol.locator(`#inbox tr[data-message="${m1.deposit.messageId}"]`);
    expect(await crow.textContent()).toContain(`forwarded by ${BOB.idc}`);
    const r = await play(carol, m1.deposit.messageId);
    expect(r.state, r.text).toBe('decoded');
    expect(Buffer.from(r.pcm!.buffer, r.pcm!.byteOffset, r.pcm!.byteLength).equals(Buffer.from(m1.tone.pcm.buffer))).toBe(true);
    await carol.goto(`${base}/voicemail`);
    expect((await crow.locator('.state').textContent())!.trim()).toBe('spent');
    const again = await fromPage(carol, `/voicemail/m/${m1.deposit.messageId}/licence`);
    expect(again.status).toBe(403);
    expect(JSON.parse(again.body).code).toBe('spent');
    // dave, a KS1-only subscriber signing in with his voicemail password, has nothing
    const dave = await as(DAVE);
    expect(await dave.locator('#inbox').count()).toBe(0);
  });

  it('the owner\'s last play is counted, then refused', async () => {
    const page = await as(BOB);
    const r = await play(page, m1.deposit.messageId);
    expect(r.state, r.text).toBe('decoded');
    expect(r.playsLeft).toBe('0');
    const refused = await fromPage(page, `/voicemail/m/${m1.deposit.messageId}/licence`);
    expect(refused.status).toBe(403);
    await page.goto(`${base}/voicemail`);
    expect(await page.locator(`button[data-play="${m1.deposit.messageId}"]`).count()).toBe(0);
  });

  it('the sender revokes a message it left; the owner\'s play is then refused; the owner deletes it', async () => {
    const alice = await as(ALICE);
    const sent = alice.locator(`#sent tr[data-message="${m2.deposit.messageId}"]`);
    expect(await sent.textContent()).toContain(BOB.idc);
    const bob = await as(BOB);
    const before = await play(bob, m2.deposit.messageId);
    expect(before.state, before.text).toBe('decoded');
    expect(Buffer.from(before.pcm!.buffer, before.pcm!.byteOffset, before.pcm!.byteLength).equals(Buffer.from(m2.tone.pcm.buffer))).toBe(true);
    await alice.goto(`${base}/voicemail`);
    await sent.locator('button[type=submit]').click();
    await alice.waitForURL(`${base}/voicemail?done=revoked`);
    await bob.goto(`${base}/voicemail`);
    expect((await bob.locator(`#inbox tr[data-message="${m2.deposit.messageId}"] .state`).textContent())!.trim()).toBe('revoked');
    const refused = await fromPage(bob, `/voicemail/m/${m2.deposit.messageId}/licence`);
    expect(JSON.parse(refused.body).code).toBe('revoked');
    await bob.locator(`#inbox tr[data-message="${m2.deposit.messageId}"] form.inline button.danger`).click();
    await bob.waitForURL(`${base}/voicemail?done=deleted`);
    expect(await bob.locator(`tr[data-message="${m2.deposit.messageId}"]`).count()).toBe(0);
    expect(await store.voicemail.contentKey(m2.deposit.messageId)).toBeUndefined();
    expect(existsSync(join(dataDir, 'voicemail', `${m2.deposit.messageId}.ksvm`))).toBe(false);
    // a subscriber disabled since sign-in loses its session at its next request
    await store.terminals.setStatus(ALICE.idc, 'disabled');
    await alice.goto(`${base}/voicemail`);
    expect(new URL(alice.url()).pathname).toBe('/voicemail/login');
    for (const p of pages.values()) expect(p.errors.filter((e) => !/status of 40[34]/.test(e))).toEqual([]);
  });
});
