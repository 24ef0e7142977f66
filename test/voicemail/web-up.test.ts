/**
 * The whole of secure voicemail as the README shows it, through `keyswitch
 * up`: a sipp caller leaves a message for an absent subscriber (a known tone,
 * rights chosen by DTMF); the subscriber signs in to the voicemail page in
 * headless Chromium and plays it; the samples the page decoded hold the tone
 * the caller sent, and the count of plays the caller allowed is enforced.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortRun } from '../helpers/ports.js';
import { startUp, type Up } from '../helpers/up.js';
import { PASSWORDS } from '../softswitch/calls-phone.js';
import { rtpScript, TONE, writeScriptPcap } from '../media/voicemail-rtp.js';
import { ulawToLinear } from './g711.js';

declare const document: { querySelector(s: string): { getAttribute(n: string): string | null } | null };

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const hasSipp = spawnSync('sipp', ['-v']).error === undefined;
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];
const SCEN = join(import.meta.dirname, '..', 'sipp', 'uac-voicemail.xml');
/** Silence over the greeting, the tone, `#`, then at most 2 plays (4 2), save (#). */
const DEPOSIT = rtpScript([{ pauseMs: 1600 }, { audio: TONE }, { key: '#' }, { pauseMs: 400 }, { key: '4' }, { key: '2' }, { key: '#' }]);

const ready = hasChromium && hasSipp;
if (!ready) console.warn('[keyswitch tests] sipp or /usr/bin/chromium missing: voicemail web page through keyswitch up SKIPPED');

(ready ? describe : describe.skip)('voicemail: a recorded call played on the web page, through keyswitch up', () => {
  let up: Up;
  let browser: Browser;
  let page: Page;
  let base: string;
  const bob = { idc: 'bob@lab.example', password: PASSWORDS['bob@lab.example']! };

  beforeAll(async () => {
    up = await startUp({
      prefix: 'ks-vm-web-up-',
      terminals: [{ idc: '1000@127.0.0.1', sipPassword: 'pw-1000' }, { idc: bob.idc, sipPassword: bob.password }],
      env: {
        KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
        KEYSWITCH_TRUSTED_SBCS: '192.0.2.1/32',
        KEYSWITCH_MEDIA_RTP_TIMEOUT_SECONDS: '3',
      },
      ready: /AuC licence server/,
    });
    base = `https://127.0.0.1:${up.ports.licence}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    page.setDefaultTimeout(15_000);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await up?.stop();
  });

  it('the caller leaves a message; the subscriber plays it in the page and hears the tone; the plays the caller allowed run out', async () => {
    const rtp = await freePortRun(4);
    writeScriptPcap(join(up.dir, 'voicemail.pcap'), DEPOSIT);
    const ssPort = up.ports.ssSip!;
    const sipp = spawn('sipp', ['-sf', SCEN, '-s', 'bob', '-key', 'caller', '1000', '-au', '1000', '-ap', 'pw-1000', '-auth_uri', `bob@127.0.0.1:${ssPort}`, '-m', '1', '-i', '127.0.0.1', '-p', '0', '-mp', String(rtp), `127.0.0.1:${ssPort}`, '-nostdin', '-timeout', '40s', '-timeout_error', '-trace_err'], { cwd: up.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sipp.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    sipp.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((r) => sipp.on('close', r)), out.slice(-3000)).toBe(0);
    const store = join(up.dir, 'data', 'media');
    const id = readdirSync(store).find((f) => f.endsWith('.ksvm'))!.slice(0, -5);

    await page.goto(`${base}/voicemail`);
    await page.fill('#idc', bob.idc);
    await page.fill('#password', bob.password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/voicemail`);
    const row = page.locator(`#inbox tr[data-message="${id}"]`);
    expect((await row.locator('.plays').textContent())!.trim()).toBe('2');
    expect(await row.textContent()).toContain('1000@127.0.0.1');

    const sel = `output.player[data-message="${id}"]`;
    await page.click(`button[data-play="${id}"]`);
    await page.waitForFunction((s) => ['decoded', 'refused'].includes(document.querySelector(s)?.getAttribute('data-state') ?? ''), sel);
    expect(await page.locator(sel).getAttribute('data-state'), (await page.locator(sel).textContent()) ?? '').toBe('decoded');
    const pcm = Buffer.from((await page.locator(sel).getAttribute('data-pcm'))!, 'base64');
    // the tone the caller sent, as 16-bit samples, is in what the page decoded
    const tone = Buffer.alloc(TONE.length * 2);
    for (let i = 0; i < TONE.length; i++) tone.writeInt16LE(ulawToLinear(TONE[i]!), i * 2);
    expect(pcm.includes(tone)).toBe(true);
    expect(await page.locator(sel).getAttribute('data-plays-left')).toBe('1');

    await page.goto(`${base}/voicemail`);
    await page.click(`button[data-play="${id}"]`);
    await page.waitForFunction((s) => document.querySelector(s)?.getAttribute('data-state') === 'decoded', sel);
    await page.goto(`${base}/voicemail`);
    expect((await row.locator('.state').textContent())!.trim()).toBe('spent');
  }, 90_000);
});
