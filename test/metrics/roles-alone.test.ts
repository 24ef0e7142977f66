/**
 * Each role run alone serves its own Prometheus metrics and /healthz
 * (docs/metrics.md): the AuC at auc.metrics, the softswitch and the SBC at
 * their health addresses. After a SIP, an MGCP and an H.248 registration and
 * a call through the three processes, each process's counters moved for
 * each protocol, with its process metrics beside them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runTerminalAnswer, runTerminalCall } from '../../src/cli/terminal-call.js';
import { openDb } from '../../src/store/index.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, PG_URL } from '../helpers/engines.js';
import { freePorts, upEnv } from '../helpers/ports.js';
import { parseMetrics, sample } from './exposition.js';

describeEngines('metrics of the roles run alone', (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-roles-metrics-'));
  const daemons: Daemon[] = [];
  const urls: Record<'auc' | 'softswitch' | 'sbc', string> = { auc: '', softswitch: '', sbc: '' };
  const scraped: Record<string, Map<string, number>> = {};
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    const pgOpts = ctx.storeOptions();
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
    const up = await upEnv();
    const [ssHealth, sbcHealth] = await freePorts(2);
    const sbcKey = randomBytes(32).toString('hex');
    const env: NodeJS.ProcessEnv = {
      ...up.env,
      KEYSWITCH_DATA_DIR: join(dir, 'data'),
      KEYSWITCH_DB_URL: ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '',
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_SOFTSWITCH_HEALTH: `127.0.0.1:${ssHealth}`,
      KEYSWITCH_SBC_HEALTH: `127.0.0.1:${sbcHealth}`,
      KEYSWITCH_SBC_KEY: sbcKey,
      // these roles run apart reach the AuC over RADIUS, what this test reads (Diameter is the default)
      KEYSWITCH_AUC_PROTOCOL: 'radius',
    };
    expect(ks(['--init', 'provision', 'proxy', 'sbc1.lab.example', '--key', sbcKey], env).code).toBe(0);
    for (const idc of ['alice@lab.example', 'bob@lab.example', 'gw1@lab.example']) {
      const r = ks(['provision', 'terminal', idc, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      keys[idc] = JSON.parse(r.stdout).key;
    }
    const auc = await startDaemon(['auc'], /AuC metrics\s+(http:\S+)/, env);
    daemons.push(auc.daemon);
    urls.auc = auc.match[1]!;
    const ss = await startDaemon(['softswitch'], /softswitch metrics\s+(http:\S+)/, env);
    daemons.push(ss.daemon);
    urls.softswitch = ss.match[1]!;
    const sbc = await startDaemon(['sbc'], /sbc metrics\s+(http:\S+)/, env);
    daemons.push(sbc.daemon);
    urls.sbc = sbc.match[1]!;

    const port = (proto: string) => (proto === 'sip' ? up.ports.sbcSip : proto === 'mgcp' ? up.ports.sbcMgcp : up.ports.sbcH248);
    for (const proto of ['sip', 'mgcp', 'h248']) {
      const idc = proto === 'sip' ? 'alice@lab.example' : 'gw1@lab.example';
      const r = ks(['terminal', 'register', '--proto', proto, '--id', idc, '--key', keys[idc]!, '--sbc', `127.0.0.1:${port(proto)}`, ...(proto === 'sip' ? ['--mechs', 'app-hmac;q=0.5'] : [])]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const sbcSip = `127.0.0.1:${up.ports.sbcSip}`;
    const bLines: string[] = [];
    const answer = runTerminalAnswer({ proto: 'sip', id: 'bob@lab.example', key: keys['bob@lab.example']!, sbc: sbcSip, mechs: 'app-hmac;q=0.5', calls: 1, timeout: 20, out: (l) => bLines.push(l) });
    while (!bLines.some((l) => l.includes('"registered"'))) {
      if (bLines.some((l) => l.includes('"failed"'))) throw new Error(bLines.join('\n'));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await runTerminalCall({ proto: 'sip', id: 'alice@lab.example', key: keys['alice@lab.example']!, sbc: sbcSip, mechs: 'app-hmac;q=0.5', to: 'bob@lab.example', hold: 0 })).toBe(0);
    expect(await answer).toBe(0);
    for (const [role, url] of Object.entries(urls)) {
      const r = await fetch(url);
      expect(r.status, role).toBe(200);
      scraped[role] = parseMetrics(await r.text());
    }
  });
  afterAll(async () => {
    for (const d of daemons.reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  it('the AuC alone: requests of every registration over RADIUS, timed; its own metrics only', () => {
    const m = scraped.auc!;
    expect(sample(m, 'keyswitch_auc_requests_total', { link: 'radius', op: 'vector', result: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(sample(m, 'keyswitch_auc_requests_total', { link: 'radius', op: 'registered', result: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(sample(m, 'keyswitch_auc_request_duration_seconds_count', { link: 'radius', op: 'vector' })).toBeGreaterThanOrEqual(4);
    expect(sample(m, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(m, 'keyswitch_softswitch_registrations_total')).toBeNaN();
  });

  it('the softswitch alone: registrations of each protocol, the call, and the RADIUS link', () => {
    const m = scraped.softswitch!;
    for (const protocol of ['sip', 'mgcp', 'h248']) {
      expect(sample(m, 'keyswitch_softswitch_registrations_total', { protocol, auth: 'ks1-app-hmac' }), protocol).toBeGreaterThanOrEqual(1);
      expect(sample(m, 'keyswitch_softswitch_register_duration_seconds_count', { protocol, result: 'accepted' }), protocol).toBeGreaterThanOrEqual(1);
    }
    expect(sample(m, 'keyswitch_softswitch_calls_answered_total')).toBe(1);
    expect(sample(m, 'keyswitch_softswitch_call_setup_seconds_count', { result: 'ringing' })).toBe(1);
    expect(sample(m, 'keyswitch_softswitch_auc_request_duration_seconds_count', { link: 'radius', op: 'vector', result: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(sample(m, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sample(m, 'keyswitch_auc_requests_total')).toBeNaN();
  });

  it('the SBC alone: sessions of each protocol and the call', () => {
    const m = scraped.sbc!;
    for (const protocol of ['sip', 'mgcp', 'h248']) expect(sample(m, 'keyswitch_sbc_sessions_total', { protocol }), protocol).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'keyswitch_sbc_calls_total', { leg: 'from-terminal', result: 'answered' })).toBe(1);
    expect(sample(m, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('each metrics address answers /healthz too', async () => {
    for (const [role, url] of Object.entries(urls)) {
      const r = await fetch(url.replace(/\/metrics$/, '/healthz'));
      expect(r.status, role).toBe(200);
      expect(await r.json(), role).toMatchObject({ status: 'ok' });
    }
  });
});
