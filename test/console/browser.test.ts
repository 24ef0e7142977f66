import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';

/** Debian's Chromium (`apt-get install chromium`); the test is skipped without it. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
/** Flags that keep the browser off the network and quiet: nothing but the console under test is fetched. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Screenshots go to a temporary directory; `npm run docs:screenshots` points
 * KEYSWITCH_CONSOLE_SCREENSHOTS at docs/console/ to refresh the committed ones.
 */
const docsRun = Boolean(process.env.KEYSWITCH_CONSOLE_SCREENSHOTS);
const shotsDir = process.env.KEYSWITCH_CONSOLE_SCREENSHOTS || mkdtempSync(join(tmpdir(), 'ks-console-shots-'));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

if (!hasChromium) console.warn(`[keyswitch tests] ${CHROMIUM} not found: the console's browser tests are SKIPPED (apt-get install chromium)`);

/**
 * The console as an operator uses it, in headless Chromium against
 * `keyswitch up`: sign in, provision a terminal (its key shown once), watch
 * it register live, lock it with wrong keys, unlock it, rotate, disable and
 * enable it, import terminals in bulk, read the audit; screenshots of each page.
 */
describe.skipIf(!hasChromium)(`web console in Chromium against keyswitch up${hasChromium ? '' : ' (skipped: no /usr/bin/chromium)'}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-console-'));
  const g = ['--data-dir', join(dir, 'data')];
  let env: NodeJS.ProcessEnv;
  let ports: Record<string, number>;
  let daemon: Daemon;
  let browser: BrowserContext;
  let page: Page;
  let base: string;
  let adminToken: string;
  let key = '';
  const idc = 'alice@lab.example';
  const pageErrors: string[] = [];

  /**
   * For the committed screenshots only: registrations and failures for a few
   * minutes, so that the dashboard's chart (sampled once a minute) has points.
   */
  const trafficForTheChart = async () => {
    for (let i = 0; i < 10; i++) {
      const points = (await (await page.request.get(`${base}/console/rates.json`)).json()) as { t: number[] };
      if (points.t.length >= 3) return;
      for (let j = 0; j < 4; j++) await register(key);
      await register('ef'.repeat(32), 'carol@lab.example');
      await page.waitForTimeout(20_000);
    }
  };
  const shot = (name: string) => page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage: true });
  const register = (k: string, id = idc) => run(['terminal', 'register', '--proto', 'sip', '--id', id, '--key', k, '--sbc', `127.0.0.1:${ports.sbcSip}`], {});

  beforeAll(async () => {
    mkdirSync(shotsDir, { recursive: true });
    const up = await upEnv();
    ports = up.ports;
    // the AuC lockout shown in the console: the intrusion detection (docs/ids.md) would stop the wrong keys before it
    env = { ...up.env, KEYSWITCH_LOG_LEVEL: 'warn', KEYSWITCH_LOCKOUT_THRESHOLD: '3', KEYSWITCH_IDS: 'off' };
    const t = ks([...g, '--init', 'token', 'create', '--role', 'admin', '--label', 'operator'], env);
    expect(t.code, t.stderr).toBe(0);
    adminToken = t.stdout.trim();
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env));
    base = `http://127.0.0.1:${ports.api}`;
    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'ks-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 860 },
      timezoneId: 'UTC',
      locale: 'en-GB',
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(15_000);
    page.on('dialog', (d) => void d.accept());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in with an operator token for a session cookie (HttpOnly, SameSite=Strict); the token is not kept by the browser', async () => {
    await page.goto(`${base}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await shot('01-login');
    await page.fill('#token', adminToken);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/console`);
    expect(await page.textContent('h1')).toBe('Dashboard');
    const cookies = await browser.cookies(`${base}/console`);
    const session = cookies.find((c) => c.name === 'ks_console')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console', secure: false });
    expect(cookies.map((c) => c.value).join(' ')).not.toContain(adminToken);
    // no script of the page can read it
    expect(await page.evaluate('document.cookie')).toBe('');
  });

  it('provisions a terminal; the generated key is shown once', async () => {
    await page.goto(`${base}/console/terminals`);
    await page.fill('#create input[name=id]', idc);
    await page.click('#create button[type=submit]');
    key = (await page.textContent('#generated-key'))!.trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    await shot('03-key-once');
    await page.click('text=Done');
    expect(await page.textContent('#status')).toContain('active');
    expect(await page.content()).not.toContain(key);
  });

  it('shows the terminal registering live, without a reload', async () => {
    await page.goto(`${base}/console/registrations`);
    await page.waitForSelector('#registrations[data-state=live]');
    await page.evaluate('window.ksMarker = 42');
    const r = await register(key);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const row = await page.waitForSelector(`#registrations tr[data-idc="${idc}"]`);
    expect(await row.textContent()).toContain('sip');
    expect(await row.textContent()).toContain('tls-psk');
    // the same document: the row came over the event stream
    expect(await page.evaluate('window.ksMarker')).toBe(42);
    await shot('04-registrations');
  });

  it('shows the terminal locked after wrong keys, live; unlock lets it register again', async () => {
    await page.goto(`${base}/console/failures`);
    await page.waitForSelector('#failures[data-state=live]');
    for (let i = 0; i < 3; i++) expect((await register('ab'.repeat(32))).code).toBe(2);
    const row = await page.waitForSelector(`#failures tr[data-idc="${idc}"]:has(.locked)`);
    expect(await row.textContent()).toContain('locked');
    // locked: even the right key is refused
    expect((await register(key)).code).toBe(2);
    await shot('05-failures-locked');

    await page.goto(`${base}/console/terminals/show?id=${encodeURIComponent(idc)}`);
    expect(await page.textContent('#status')).toContain('locked');
    await page.click('#unlock button');
    await page.waitForSelector('.notice');
    expect(await page.textContent('.notice')).toContain('Unlocked');
    expect(await page.textContent('#status')).toContain('active');
    const again = await register(key);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  });

  it('rotates the key (the new one shown once; the old one stops working), disables and enables the terminal', async () => {
    await page.goto(`${base}/console/terminals/show?id=${encodeURIComponent(idc)}`);
    await page.click('form[action$="/rotate"] button');
    const key2 = (await page.textContent('#generated-key'))!.trim();
    expect(key2).toMatch(/^[0-9a-f]{64}$/);
    expect(key2).not.toBe(key);
    await page.click('text=Done');
    expect(await page.textContent('#generation')).toBe('2');
    expect((await register(key2)).code).toBe(0);
    key = key2;

    await page.click('form[action$="/disable"] button');
    await page.waitForSelector('.notice');
    expect(await page.textContent('#status')).toContain('disabled');
    expect((await register(key)).code).toBe(2);
    await page.click('form[action$="/enable"] button');
    await page.waitForSelector('.notice');
    expect(await page.textContent('#status')).toContain('active');

    await page.fill('form[action$="/sip-password"] input[name=sipPassword]', 'digest-secret-1');
    await page.click('form[action$="/sip-password"] button');
    expect(await page.textContent('.notice')).toContain('SIP password set');
    await shot('06-terminal');
  });

  it('imports terminals in bulk with a report per refused line; generated keys are shown once', async () => {
    await page.goto(`${base}/console/import`);
    await page.fill('#csv', ['idc,key,sip_password', 'bob@lab.example,,', `carol@lab.example,${'cd'.repeat(32)},`, 'not an identity,,', `${idc},,`].join('\n'));
    await page.click('#import button[type=submit]');
    await page.waitForSelector('#import-summary');
    expect(await page.textContent('#created')).toBe('2');
    expect(await page.textContent('#failed')).toBe('1');
    expect(await page.textContent('#import-errors')).toContain('4');
    const keys = await page.$$eval('#import-keys tr td:first-child', (tds) => tds.map((t) => t.textContent));
    expect(keys).toEqual(['bob@lab.example']);
    await shot('07-import');
    await page.reload();
    expect(await page.$('#import-keys')).toBeNull();
    expect(await page.textContent('main')).toContain('shown once');
  });

  it('lists terminals and proxies, blocked sources and the audit of every change', async () => {
    await page.goto(`${base}/console/terminals`);
    for (const id of [idc, 'bob@lab.example', 'carol@lab.example']) expect(await page.$(`#principals tr[data-id="${id}"]`)).not.toBeNull();
    await shot('02-terminals');
    await page.goto(`${base}/console/blocked`);
    expect(await page.textContent('h1')).toBe('Blocked sources');
    await shot('08-blocked');
    await page.goto(`${base}/console/audit?target=${encodeURIComponent(idc)}`);
    const actions = await page.$$eval('#audit tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));
    for (const a of ['terminal.create', 'terminal.unlock', 'terminal.rotate', 'terminal.disable', 'terminal.enable', 'terminal.sip-password']) expect(actions).toContain(a);
    await shot('09-audit');
    if (docsRun) await trafficForTheChart();
    await page.goto(`${base}/console`);
    await page.waitForSelector('section.figures[data-state=live]');
    expect(await page.textContent('section.figures')).toContain('Live registrations');
    await page.waitForSelector('#rates[data-state=drawn]');
    await shot('00-dashboard');
  }, docsRun ? 400_000 : 30_000);

  it('signs out: the session cookie no longer opens a page', async () => {
    await page.click('header form[action="/console/logout"] button');
    await page.waitForURL(/\/console\/login/);
    await page.goto(`${base}/console/terminals`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    // nothing the pages did broke the CSP or threw
    expect(pageErrors).toEqual([]);
  });
});
