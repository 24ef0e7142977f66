/**
 * `keyswitch up` serves Prometheus metrics for every role and protocol at
 * metrics.address (docs/metrics.md): after SIP, MGCP and H.248 registrations,
 * wrong keys, a lockout and a call, each counter and histogram moved with the
 * labels docs/metrics.md gives; the AuC link is timed for RADIUS and for
 * Diameter; the same address answers /healthz; and every line the daemon
 * logs is one JSON event with an ISO time, failures and lockouts at warn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTerminalAnswer, runTerminalCall } from '../../src/cli/terminal-call.js';
import { openDb } from '../../src/store/index.js';
import { ks } from '../helpers/cli.js';
import { describeEngines, makeContext, PG_URL, type EngineContext } from '../helpers/engines.js';
import { startUp, type Up } from '../helpers/up.js';
import { parseMetrics, sample } from './exposition.js';

describeEngines('metrics of keyswitch up, AuC over RADIUS', (ctx) => metricsSuite(ctx, 'radius'));
describe('metrics of keyswitch up, AuC over Diameter [sqlite]', () => metricsSuite(makeContext('sqlite'), 'diameter'));

function metricsSuite(ctx: EngineContext, link: 'radius' | 'diameter') {
  const pgOpts = ctx.storeOptions();
  const dbUrl = ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '';
  let up: Up;
  let keys: Record<string, string>;
  let p: Record<string, number>;
  let daemon: Up['daemon'];
  let before: Map<string, number>;
  let after: Map<string, number>;

  const scrape = async (): Promise<Map<string, number>> => {
    const r = await fetch(`http://127.0.0.1:${p.metrics}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parseMetrics(await r.text());
  };
  /** How much a sample moved between the two scrapes (a series absent before counts from 0). */
  const moved = (name: string, labels: Record<string, string> = {}): number => {
    const b = sample(before, name, labels);
    return sample(after, name, labels) - (Number.isNaN(b) ? 0 : b);
  };
  const register = (proto: string, idc: string, key: string) => {
    const port = proto === 'sip' ? p.sbcSip : proto === 'mgcp' ? p.sbcMgcp : p.sbcH248;
    return ks(['terminal', 'register', '--proto', proto, '--id', idc, '--key', key, '--sbc', `127.0.0.1:${port}`, ...(proto === 'sip' ? ['--mechs', 'app-hmac;q=0.5'] : [])]);
  };

  beforeAll(async () => {
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
    up = await startUp({
      terminals: ['alice@lab.example', 'bob@lab.example', 'carol@lab.example', 'eve@lab.example', 'gw1@lab.example', 'gw2@lab.example'],
      prefix: 'ks-metrics-',
      dbUrl,
      env: { KEYSWITCH_LOG_LEVEL: 'info', KEYSWITCH_AUC_PROTOCOL: link, KEYSWITCH_LOCKOUT_THRESHOLD: '2' },
    });
    ({ keys, daemon, ports: p } = up);
    before = await scrape();

    // a registration of each protocol, and a wrong key of each
    for (const proto of ['sip', 'mgcp', 'h248']) {
      const idc = proto === 'sip' ? 'alice@lab.example' : 'gw1@lab.example';
      const ok = register(proto, idc, keys[idc]!);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(register(proto, proto === 'sip' ? 'carol@lab.example' : 'gw2@lab.example', 'ab'.repeat(32)).code).toBe(2);
    }
    // eve's wrong keys lock her (threshold 2)
    for (let i = 0; i < 2; i++) expect(register('sip', 'eve@lab.example', 'cd'.repeat(32)).code).toBe(2);
    // a call from alice to bob through the SBC
    const sbc = `127.0.0.1:${p.sbcSip}`;
    const bLines: string[] = [];
    const answer = runTerminalAnswer({ proto: 'sip', id: 'bob@lab.example', key: keys['bob@lab.example']!, sbc, mechs: 'app-hmac;q=0.5', calls: 1, timeout: 20, out: (l) => bLines.push(l) });
    while (!bLines.some((l) => l.includes('"registered"'))) {
      if (bLines.some((l) => l.includes('"failed"'))) throw new Error(bLines.join('\n'));
      await new Promise((r) => setTimeout(r, 20));
    }
    const aLines: string[] = [];
    expect(await runTerminalCall({ proto: 'sip', id: 'alice@lab.example', key: keys['alice@lab.example']!, sbc, mechs: 'app-hmac;q=0.5', to: 'bob@lab.example', hold: 0, out: (l) => aLines.push(l) }), aLines.join('\n')).toBe(0);
    expect(await answer).toBe(0);
    // an API request
    expect((await fetch(`http://127.0.0.1:${p.api}/healthz`)).status).toBe(200);
    after = await scrape();
  });
  afterAll(async () => {
    await up?.stop();
    await ctx.cleanup();
  });

  it('counts registrations of every protocol at the softswitch and at the SBC, with their latency', () => {
    for (const protocol of ['sip', 'mgcp', 'h248']) {
      expect(moved('keyswitch_softswitch_registrations_total', { protocol, auth: 'ks1-app-hmac' }), protocol).toBeGreaterThanOrEqual(1);
      expect(moved('keyswitch_sbc_sessions_total', { protocol }), protocol).toBeGreaterThanOrEqual(1);
      // each registration is a challenge and an accepted response, each timed
      expect(moved('keyswitch_softswitch_register_duration_seconds_count', { protocol, result: 'challenged' }), protocol).toBeGreaterThanOrEqual(1);
      expect(moved('keyswitch_softswitch_register_duration_seconds_count', { protocol, result: 'accepted' }), protocol).toBeGreaterThanOrEqual(1);
      expect(moved('keyswitch_softswitch_register_duration_seconds_bucket', { protocol, result: 'accepted', le: '+Inf' }), protocol).toBeGreaterThanOrEqual(1);
      expect(moved('keyswitch_softswitch_register_duration_seconds_sum', { protocol, result: 'accepted' }), protocol).toBeGreaterThan(0);
    }
    expect(sample(after, 'keyswitch_softswitch_registered_gateways', { protocol: 'mgcp' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'keyswitch_softswitch_registered_gateways', { protocol: 'h248' })).toBeGreaterThanOrEqual(1);
    expect(moved('keyswitch_sbc_registrations_total', { kind: 'ks1' })).toBeGreaterThanOrEqual(1);
  });

  it('counts wrong keys of every protocol as failures, and the lockout they cause', () => {
    for (const protocol of ['sip', 'mgcp', 'h248']) {
      expect(moved('keyswitch_softswitch_auth_failures_total', { protocol, kind: 'ks1' }), protocol).toBeGreaterThanOrEqual(1);
    }
    expect(moved('keyswitch_softswitch_lockouts_total', { protocol: 'sip' })).toBeGreaterThanOrEqual(1);
    expect(moved('keyswitch_auc_auth_failures_total', { link })).toBeGreaterThanOrEqual(4);
    expect(moved('keyswitch_auc_lockouts_total', { link })).toBeGreaterThanOrEqual(1);
    for (const protocol of ['mgcp', 'h248']) {
      // gw1's first step and gw2's, then gw2's wrong response answered with a new challenge
      expect(moved('keyswitch_softswitch_register_duration_seconds_count', { protocol, result: 'challenged' }), protocol).toBeGreaterThanOrEqual(3);
      // the SBC's own refusals of gateway messages (none here: the softswitch found the wrong keys) are exposed from the start
      expect(sample(after, 'keyswitch_sbc_gateway_auth_failures_total', { protocol, kind: 'refused' }), protocol).toBe(0);
      // nothing refused for overload either, and the gate's share is there to watch
      expect(sample(after, 'keyswitch_sbc_gateway_auth_failures_total', { protocol, kind: 'overloaded' }), protocol).toBe(0);
      expect(sample(after, 'keyswitch_sbc_gateway_refused_share', { protocol }), protocol).toBe(0);
      // the gateway socket's retransmissions are there to watch, and its timer is in seconds: 0.2 or, measured late, more
      expect(sample(after, 'keyswitch_sbc_gateway_retransmissions_total', { protocol, direction: 'sent' }), protocol).toBeGreaterThanOrEqual(0);
      expect(sample(after, 'keyswitch_sbc_gateway_retransmission_timer_seconds', { protocol }), protocol).toBeGreaterThanOrEqual(0.2);
      expect(sample(after, 'keyswitch_sbc_gateway_retransmission_timer_seconds', { protocol }), protocol).toBeLessThanOrEqual(4);
    }
  });

  it('counts and times the call at the softswitch and the SBC', () => {
    expect(moved('keyswitch_softswitch_calls_attempted_total')).toBe(1);
    expect(moved('keyswitch_softswitch_calls_answered_total')).toBe(1);
    expect(moved('keyswitch_softswitch_call_setup_seconds_count', { result: 'ringing' })).toBe(1);
    expect(moved('keyswitch_softswitch_call_setup_seconds_bucket', { result: 'ringing', le: '60' })).toBe(1);
    expect(moved('keyswitch_sbc_calls_total', { leg: 'from-terminal', result: 'answered' })).toBe(1);
    expect(moved('keyswitch_sbc_calls_total', { leg: 'to-terminal', result: 'answered' })).toBe(1);
  });

  it(`times the AuC link (${link}) at the softswitch and each request at the AuC`, () => {
    const other = link === 'radius' ? 'diameter' : 'radius';
    for (const op of ['vector', 'registered', 'failed']) {
      expect(moved('keyswitch_softswitch_auc_request_duration_seconds_count', { link, op, result: 'ok' }), op).toBeGreaterThanOrEqual(1);
      expect(moved('keyswitch_auc_request_duration_seconds_count', { link, op }), op).toBeGreaterThanOrEqual(1);
      expect(moved('keyswitch_auc_requests_total', { link, op, result: 'ok' }), op).toBeGreaterThanOrEqual(1);
    }
    expect(sample(after, 'keyswitch_softswitch_auc_request_duration_seconds_count', { link: other })).toBeNaN();
    expect(sample(after, 'keyswitch_softswitch_auc_errors_total', { link })).toBeNaN();
    if (link === 'radius') expect(sample(after, 'keyswitch_softswitch_auc_radius_events_total', { event: 'retransmission' })).toBeGreaterThanOrEqual(0);
  });

  it('counts API requests by route and serves process metrics', () => {
    expect(moved('keyswitch_auc_api_requests_total', { method: 'GET', route: '/healthz', status_class: '2xx' })).toBeGreaterThanOrEqual(1);
    expect(moved('keyswitch_auc_api_request_duration_seconds_count', { method: 'GET', route: '/healthz' })).toBeGreaterThanOrEqual(1);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(sample(after, name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it('answers /healthz at the metrics address too', async () => {
    const r = await fetch(`http://127.0.0.1:${p.metrics}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ok', down: [] });
    expect(daemon.output()).toContain(`metrics (and /healthz)`);
    expect(daemon.output()).toContain(`http://127.0.0.1:${p.metrics}/metrics`);
  });

  it('logs one JSON event per line with an ISO time; failures and the lockout at warn', () => {
    const lines = daemon.stderr().split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(3);
    const events = lines.map((l) => {
      let e: { time?: unknown; level?: unknown; msg?: unknown };
      try {
        e = JSON.parse(l);
      } catch {
        throw new Error(`not a JSON event: ${l}`);
      }
      expect(e.time, l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(typeof e.level, l).toBe('number');
      return e as { time: string; level: number; msg: string };
    });
    expect(events.some((e) => e.msg === 'store')).toBe(true);
    const warn = events.filter((e) => e.level === 40).map((e) => e.msg);
    expect(warn).toContain('AuC: authentication failure');
    expect(warn).toContain('AuC: terminal locked after repeated authentication failures');
    for (const k of Object.values(keys)) expect(daemon.stderr()).not.toContain(k);
  });
}
