/**
 * The pieces behind /metrics (docs/metrics.md): the prom-client registry and
 * its histograms, process metrics and scrape hooks; the hourly rates for the
 * console; the SIP timing of a server transaction; the AuC observers (link at
 * the softswitch, requests at the AuC, API routes); the SBC's per-protocol
 * session counter and relay failures.
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { aucMetrics, observeApi, observeAucService } from '../../src/auc/metrics.js';
import { AucUnavailableError, ReportRefusedError, type AucService } from '../../src/contracts/auc.js';
import { SessionKeys } from '../../src/crypto/ks1.js';
import { MetricsHistory, MetricsRegistry } from '../../src/metrics/index.js';
import { isCallProgress, isFinal, timedContext } from '../../src/metrics/sip-timing.js';
import { sbcProtocolMetrics } from '../../src/sbc/sip-metrics.js';
import type { ServerContext } from '../../src/sip/stack.js';
import type { AucClient } from '../../src/softswitch/auc-client.js';
import { AucProtocolError } from '../../src/adapters/radius/auc-client.js';
import { SoftswitchMetrics, callSetupResult, registerResult } from '../../src/softswitch/metrics.js';
import { parseMetrics, sample } from './exposition.js';

describe('MetricsRegistry on prom-client', () => {
  it('renders a histogram with cumulative buckets, +Inf, sum and count, in the declared label order', async () => {
    const r = new MetricsRegistry();
    const h = r.histogram('t_seconds', 'test', { labelNames: ['protocol', 'result'], buckets: [0.1, 1] });
    h.observe({ result: 'accepted', protocol: 'sip' }, 0.05);
    h.observe({ protocol: 'sip', result: 'accepted' }, 0.5);
    h.observe({ protocol: 'sip', result: 'accepted' }, 5);
    const text = await r.render();
    expect(text).toContain('# TYPE t_seconds histogram');
    expect(text).toContain('t_seconds_bucket{le="0.1",protocol="sip",result="accepted"} 1');
    expect(text).toContain('t_seconds_bucket{le="1",protocol="sip",result="accepted"} 2');
    expect(text).toContain('t_seconds_bucket{le="+Inf",protocol="sip",result="accepted"} 3');
    expect(text).toContain('t_seconds_count{protocol="sip",result="accepted"} 3');
    expect(sample(parseMetrics(text), 't_seconds_sum', { protocol: 'sip' })).toBeCloseTo(5.55);
    expect(h.count({ protocol: 'sip', result: 'accepted' })).toBe(3);
    expect(() => h.observe({ protocol: 'sip' }, 1)).toThrow(/missing label/);
    expect(text).not.toMatch(/\n\n/);
  });

  it('renders histograms and counters exactly as prom-client fed every observation does (they are handed to it at scrape time)', async () => {
    const r = new MetricsRegistry();
    const plain = new client.Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const h = r.histogram('p_seconds', 'test', { labelNames: ['op', 'result'], buckets });
    const ph = new client.Histogram({ name: 'p_seconds', help: 'test', labelNames: ['op', 'result'], buckets, registers: [plain] });
    const bare = r.histogram('q_seconds', 'test', { buckets });
    new client.Histogram({ name: 'q_seconds', help: 'test', buckets, registers: [plain] });
    const c = r.counter('p_total', 'test', { labelNames: ['op'] });
    const pc = new client.Counter({ name: 'p_total', help: 'test', labelNames: ['op'], registers: [plain] });
    // boundaries included (a value equal to a bound is in that bucket), values past the last bound, odd label values
    const values = [0, 0.001, 0.0010001, 0.01, 0.05, 0.1, 1, 1.5, 100, ...Array.from({ length: 200 }, (_, i) => ((i * 7919) % 1000) / 300)];
    values.forEach((v, i) => {
      const labels = { op: ['a', 'b"c', 'd\\e'][i % 3]!, result: i % 2 ? 'ok' : 'error' };
      h.observe(labels, v);
      ph.observe(labels, v);
      c.inc({ op: labels.op }, i % 4);
      pc.inc({ op: labels.op }, i % 4);
    });
    const ours = await r.render();
    const theirs = (await plain.metrics()).replace(/\n\n+/g, '\n');
    expect(ours.split('\n').sort()).toEqual(theirs.split('\n').sort());
    bare.observe(undefined, 0.5);
    expect(await r.render()).toContain('q_seconds_bucket{le="1"} 1');
  });

  it('times with startTimer, ignores impossible durations, and refuses a second metric of another kind under one name', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('d_seconds', 'test', { labelNames: ['op'] });
    const end = h.startTimer();
    expect(end({ op: 'x' })).toBeGreaterThanOrEqual(0);
    h.observe({ op: 'x' }, -1);
    h.observe({ op: 'x' }, NaN);
    expect(h.count({ op: 'x' })).toBe(1);
    expect(r.histogram('d_seconds', 'test', { labelNames: ['op'] })).toBe(h);
    expect(() => r.counter('d_seconds', 'test', { labelNames: ['op'] })).toThrow(/already registered/);
  });

  it('runs scrape hooks before rendering and snapshots, sums series, and adds process metrics only when asked', async () => {
    const r = new MetricsRegistry();
    const c = r.counter('pulled_total', 'test', { labelNames: ['k'] });
    let source = 0;
    r.beforeCollect(() => {
      if (source > c.get({ k: 'a' })) c.inc({ k: 'a' }, source - c.get({ k: 'a' }));
    });
    source = 3;
    expect(sample(parseMetrics(await r.render()), 'pulled_total', { k: 'a' })).toBe(3);
    source = 5;
    expect(r.snapshot().find((m) => m.name === 'pulled_total')!.series).toEqual([{ labels: { k: 'a' }, value: 5 }]);
    c.inc({ k: 'b' }, 2);
    expect(r.total('pulled_total')).toBe(7);
    expect(r.total('pulled_total', { k: 'b' })).toBe(2);
    expect(r.total('no_such_total')).toBe(0);
    expect(await r.render()).not.toContain('process_cpu');
    r.collectProcessMetrics();
    r.collectProcessMetrics();
    const text = await r.render();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds']) expect(text).toContain(`# TYPE ${name} `);
    parseMetrics(text);
  });
});

describe('MetricsHistory (rates over the last hour for the console)', () => {
  it('samples followed totals and gives the increase per minute, keeping an hour', () => {
    const r = new MetricsRegistry();
    const regs = r.counter('regs_total', 'test', { labelNames: ['protocol'] });
    let now = 0;
    const hist = new MetricsHistory(r, { follow: ['regs_total', { name: 'regs_total', as: 'mgcp', where: { protocol: 'mgcp' } }], keep: 61, now: () => now });
    hist.sample();
    regs.inc({ protocol: 'sip' }, 6);
    regs.inc({ protocol: 'mgcp' }, 3);
    now += 60_000;
    hist.sample();
    regs.inc({ protocol: 'sip' }, 2);
    now += 30_000;
    hist.sample();
    expect(hist.rates()).toEqual([
      { at: 60_000, perMinute: { regs_total: 9, mgcp: 3 } },
      { at: 90_000, perMinute: { regs_total: 4, mgcp: 0 } },
    ]);
    for (let i = 0; i < 100; i++) hist.sample();
    expect(hist.samples()).toHaveLength(61);
  });
});

describe('timedContext (SIP server transaction timing)', () => {
  function fakeCtx(sent: number[]): ServerContext {
    return {
      source: { address: '192.0.2.1', port: 5060, protocol: 'udp' } as ServerContext['source'],
      transaction: undefined,
      cancelled: false,
      reply: (res) => void sent.push(res.status),
      respond: (status) => {
        sent.push(status);
        return { status } as ReturnType<ServerContext['respond']>;
      },
      onCancel: () => undefined,
    };
  }

  it('stops at the first response that marks, once, and passes every response through', () => {
    const sent: number[] = [];
    const seen: number[] = [];
    const ctx = timedContext(fakeCtx(sent), isCallProgress, (status) => seen.push(status));
    ctx.reply({ status: 100 } as never);
    ctx.reply({ status: 180 } as never);
    ctx.respond(200);
    expect(sent).toEqual([100, 180, 200]);
    expect(seen).toEqual([180]);
    const finals: number[] = [];
    const reg = timedContext(fakeCtx([]), isFinal, (s) => finals.push(s));
    reg.respond(100);
    reg.respond(401);
    reg.respond(200);
    expect(finals).toEqual([401]);
  });

  it('labels REGISTER answers and call progress', () => {
    expect([200, 401, 407, 494, 403, 404, 423, 503].map(registerResult)).toEqual(['accepted', 'challenged', 'challenged', 'challenged', 'refused', 'refused', 'refused', 'unavailable']);
    expect([180, 183, 200, 407, 486, 408].map(callSetupResult)).toEqual(['ringing', 'ringing', 'answered', 'challenged', 'failed', 'failed']);
  });
});

describe('AuC observers', () => {
  const report = { idc: 'a@lab.example', idsp: 'sbc1.lab.example' };

  it('times the softswitch link and counts errors by kind; close and stats pass through', async () => {
    const r = new MetricsRegistry();
    const m = new SoftswitchMetrics(r);
    let closed = false;
    const errors = [new AucUnavailableError(), new AucProtocolError('bad answer'), new ReportRefusedError(), new Error('x')];
    const client: AucClient & { stats(): { requests: number } } = {
      vector: async () => ({ ok: false as const, reason: 'locked' as const }),
      digest: async () => {
        throw errors.shift();
      },
      registered: async () => undefined,
      deregistered: async () => undefined,
      failed: async () => ({ locked: true }),
      close: async () => void (closed = true),
      stats: () => ({ requests: 7 }),
    };
    const link = m.observeAucLink(client, 'diameter');
    expect(await link.vector(report)).toEqual({ ok: false, reason: 'locked' });
    for (let i = 0; i < 4; i++) await expect(link.digest({ ...report, username: 'a', realm: 'r', algorithm: 'MD5' })).rejects.toThrow();
    await link.close();
    expect(closed).toBe(true);
    expect(link.stats()).toEqual({ requests: 7 });
    const s = parseMetrics(await r.render());
    expect(sample(s, 'keyswitch_softswitch_auc_request_duration_seconds_count', { link: 'diameter', op: 'vector', result: 'ok' })).toBe(1);
    expect(sample(s, 'keyswitch_softswitch_auc_request_duration_seconds_count', { link: 'diameter', op: 'digest', result: 'error' })).toBe(4);
    for (const error of ['unavailable', 'protocol', 'refused', 'other']) expect(sample(s, 'keyswitch_softswitch_auc_errors_total', { link: 'diameter', op: 'digest', error }), error).toBe(1);
  });

  it('counts MGCP and H.248 failures and every lockout by protocol, SIP failures only from the registrar', async () => {
    const r = new MetricsRegistry();
    const m = new SoftswitchMetrics(r);
    const auc = { failed: async () => ({ locked: true }) } as unknown as AucService;
    await m.observeAuc(auc, 'mgcp').failed(report);
    await m.observeAuc(auc, 'h248').failed(report);
    await m.observeAuc(auc, 'sip').failed(report);
    expect(m.authFailures.get({ protocol: 'mgcp', kind: 'ks1' })).toBe(1);
    expect(m.authFailures.get({ protocol: 'h248', kind: 'ks1' })).toBe(1);
    expect(m.authFailures.get({ protocol: 'sip', kind: 'ks1' })).toBe(0);
    for (const protocol of ['mgcp', 'h248', 'sip']) expect(m.lockouts.get({ protocol })).toBe(1);
  });

  it('at the AuC: counts by link, op and result, refusals by reason, passes the requester on', async () => {
    const r = new MetricsRegistry();
    const m = aucMetrics(r);
    const from: (string | undefined)[] = [];
    const core = {
      vector: async (_q: unknown, f?: string) => (from.push(f), { ok: false as const, reason: 'disabled' as const }),
      digest: async () => ({ ok: true as const, ha1: 'x' }),
      registered: async () => {
        throw new ReportRefusedError();
      },
      deregistered: async () => undefined,
      failed: async () => ({ locked: true, retryAfterSeconds: 30 }),
    } as unknown as AucService;
    const seen = observeAucService(core, 'radius', m);
    await seen.vector(report, 'radius:127.0.0.1');
    await seen.failed(report, 'radius:127.0.0.1');
    await expect(seen.registered({ ...report, ipc: '', protocol: 'sip', contact: '', mechanism: '', expiresAt: 0 })).rejects.toThrow(ReportRefusedError);
    expect(from).toEqual(['radius:127.0.0.1']);
    expect(m.requests.get({ link: 'radius', op: 'vector', result: 'refused' })).toBe(1);
    expect(m.requests.get({ link: 'radius', op: 'registered', result: 'error' })).toBe(1);
    expect(m.refusals.get({ link: 'radius', reason: 'disabled' })).toBe(1);
    expect(m.failures.get({ link: 'radius' })).toBe(1);
    expect(m.lockouts.get({ link: 'radius' })).toBe(1);
    expect((r.get('keyswitch_auc_request_duration_seconds') as { count(l: object): number }).count({ link: 'radius', op: 'vector' })).toBe(1);
  });

  it('labels API requests by route template, never by the raw URL', async () => {
    const r = new MetricsRegistry();
    const m = aucMetrics(r);
    const app = Fastify();
    app.get('/v1/terminals/:idc', async () => ({}));
    observeApi(app, m);
    for (let i = 0; i < 3; i++) await app.inject({ method: 'GET', url: `/v1/terminals/${randomBytes(4).toString('hex')}` });
    await app.inject({ method: 'GET', url: '/no/such/path' });
    await app.close();
    expect(m.apiRequests.get({ method: 'GET', route: '/v1/terminals/:idc', status_class: '2xx' })).toBe(3);
    expect(m.apiRequests.get({ method: 'GET', route: 'unmatched', status_class: '4xx' })).toBe(1);
    expect(r.snapshot().find((x) => x.name === 'keyswitch_auc_api_requests_total')!.series).toHaveLength(2);
  });

  it('caps the series of a metric: a label set past the cap is refused, and the series it has still count', () => {
    const r = new MetricsRegistry();
    const c = r.counter('keyswitch_test_capped_total', 'capped', { labelNames: ['id'], maxSeries: 3 });
    for (const id of ['a', 'b', 'c']) c.inc({ id });
    expect(() => c.inc({ id: 'd' })).toThrow(/too many label sets/);
    c.inc({ id: 'a' });
    expect(c.get({ id: 'a' })).toBe(2);
    expect(r.snapshot().find((x) => x.name === 'keyswitch_test_capped_total')!.series.map((x) => x.labels.id)).toEqual(['a', 'b', 'c']);
  });
});

describe('a counter that follows running counts kept elsewhere', () => {
  it('moves by what each count grew, never back when a count restarts, and waits while there is nothing to read', async () => {
    const r = new MetricsRegistry();
    const c = r.counter('t_events_total', 'test', { labelNames: ['link', 'event'] });
    let counts: Record<string, number> | undefined;
    r.follow(c, 'event', () => counts, { keys: ['timeout'], labels: { link: 'a' } });
    let s = parseMetrics(await r.render());
    expect(sample(s, 't_events_total', { link: 'a', event: 'timeout' })).toBe(0);
    counts = { timeout: 4, failover: 1 };
    s = parseMetrics(await r.render());
    expect(sample(s, 't_events_total', { link: 'a', event: 'timeout' })).toBe(4);
    expect(sample(s, 't_events_total', { link: 'a', event: 'failover' })).toBe(1);
    // the component restarted: its count went back to 2, then grew by 3
    counts = { timeout: 2, failover: 1 };
    s = parseMetrics(await r.render());
    expect(sample(s, 't_events_total', { link: 'a', event: 'timeout' })).toBe(4);
    counts = { timeout: 5, failover: 1 };
    s = parseMetrics(await r.render());
    expect(sample(s, 't_events_total', { link: 'a', event: 'timeout' })).toBe(7);
    counts = undefined;
    s = parseMetrics(await r.render());
    expect(sample(s, 't_events_total', { link: 'a', event: 'timeout' })).toBe(7);
  });
});

describe('SBC per-protocol metrics', () => {
  it('counts sessions by protocol and pulls relay failures as deltas', async () => {
    const r = new MetricsRegistry();
    const p = sbcProtocolMetrics(r);
    const session = () => ({ idc: 'gw@lab.example', idsp: 'sbc1.lab.example', mechanism: 'app-hmac', keys: new SessionKeys(randomBytes(32)), registeredAt: 0 });
    p.sessions.accept(session(), 'mgcp', '192.0.2.1:2427', Date.now() + 60_000);
    p.sessions.accept(session(), 'h248', '192.0.2.1:2944', Date.now() + 60_000);
    p.sessions.accept(session(), 'h248', '192.0.2.1:2944', Date.now() + 60_000);
    expect(p.sessions.get('gw@lab.example')?.protocol).toBe('h248');
    const relay = { refused: 0, rechallenged: 0, shed: 0, refusedShare: 0, rejected: { missing: 0, 'bad-tag': 0 } as Record<string, number>, transport: { resent: 0, duplicates: 0, rtoMs: 200 } };
    const h248 = { ...relay, refusedShare: 0.35, transport: { resent: 5, duplicates: 9, rtoMs: 740 } };
    p.followRelay('mgcp', () => relay);
    p.followRelay('h248', () => h248);
    relay.refused = 2;
    relay.rejected['bad-tag'] = 1;
    let s = parseMetrics(await r.render());
    expect(sample(s, 'keyswitch_sbc_sessions_total', { protocol: 'mgcp' })).toBe(1);
    expect(sample(s, 'keyswitch_sbc_sessions_total', { protocol: 'h248' })).toBe(2);
    expect(sample(s, 'keyswitch_sbc_gateway_auth_failures_total', { protocol: 'mgcp', kind: 'refused' })).toBe(2);
    expect(sample(s, 'keyswitch_sbc_gateway_auth_failures_total', { protocol: 'mgcp', kind: 'bad-tag' })).toBe(1);
    expect(sample(s, 'keyswitch_sbc_gateway_refused_share', { protocol: 'mgcp' })).toBe(0);
    expect(sample(s, 'keyswitch_sbc_gateway_refused_share', { protocol: 'h248' })).toBe(0.35);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmission_timer_seconds', { protocol: 'mgcp' })).toBe(0.2);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmission_timer_seconds', { protocol: 'h248' })).toBe(0.74);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmissions_total', { protocol: 'h248', direction: 'sent' })).toBe(5);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmissions_total', { protocol: 'h248', direction: 'received' })).toBe(9);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmissions_total', { protocol: 'mgcp', direction: 'received' })).toBe(0);
    h248.transport.duplicates = 12;
    h248.transport.rtoMs = 200;
    relay.refused = 3;
    relay.shed = 4;
    relay.refusedShare = 0.1;
    s = parseMetrics(await r.render());
    expect(sample(s, 'keyswitch_sbc_gateway_refused_share', { protocol: 'mgcp' })).toBe(0.1);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmissions_total', { protocol: 'h248', direction: 'received' })).toBe(12);
    expect(sample(s, 'keyswitch_sbc_gateway_retransmission_timer_seconds', { protocol: 'h248' })).toBe(0.2);
    expect(sample(s, 'keyswitch_sbc_gateway_auth_failures_total', { protocol: 'mgcp', kind: 'overloaded' })).toBe(4);
    expect(sample(s, 'keyswitch_sbc_gateway_auth_failures_total', { protocol: 'mgcp', kind: 'refused' })).toBe(3);
    expect(sample(s, 'keyswitch_sbc_gateway_auth_failures_total', { protocol: 'mgcp', kind: 'rechallenged' })).toBe(0);
  });
});
