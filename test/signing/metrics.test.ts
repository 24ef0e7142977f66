import { afterEach, describe, expect, it } from 'vitest';
import { MetricsRegistry, METRICS_CONTENT_TYPE, startMetricsServer, type MetricsServer } from '../../src/metrics/index.js';

// Prometheus text format 0.0.4, line by line.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABELS = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*)?\\}`;
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)';
const SAMPLE = new RegExp(`^(${NAME})(${LABELS})? ${VALUE}(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\[\\\\n])*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** Checks the exposition text and returns samples by name+labels. */
function parseExposition(text: string): Map<string, string> {
  expect(text.endsWith('\n')).toBe(true);
  const samples = new Map<string, string>();
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = HELP.exec(line))) continue;
    if ((m = TYPE.exec(line))) {
      expect(typed.has(m[1]!), `TYPE ${m[1]} twice`).toBe(false);
      typed.add(m[1]!);
      continue;
    }
    m = SAMPLE.exec(line);
    expect(m, `bad line: ${JSON.stringify(line)}`).not.toBeNull();
    expect(typed.has(m![1]!), `sample before its TYPE: ${line}`).toBe(true);
    const key = m![1]! + (m![2] ?? '');
    expect(samples.has(key), `duplicate sample ${key}`).toBe(false);
    samples.set(key, line.slice(key.length + 1));
  }
  return samples;
}

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('Prometheus registry', () => {
  it('renders counters and gauges with labels in valid exposition format', async () => {
    const r = new MetricsRegistry();
    const regs = r.counter('keyswitch_registrations_total', 'Registrations accepted', { labelNames: ['protocol'] });
    const fails = r.counter('keyswitch_auth_failures_total', 'Authentication failures\nby reason \\ mechanism', { labelNames: ['reason'] });
    const calls = r.gauge('keyswitch_calls_active', 'Calls up now');
    const weird = r.gauge('keyswitch_weird', 'odd values', { labelNames: ['v'] });
    regs.inc({ protocol: 'sip' });
    regs.inc({ protocol: 'sip' }, 2);
    regs.inc({ protocol: 'h323' });
    fails.inc({ reason: 'bad "mac"\nline\\x' });
    calls.set(4);
    calls.dec();
    weird.set(Infinity, { v: 'inf' });
    weird.set(NaN, { v: 'nan' });
    weird.set(-1.5e-7, { v: 'small' });
    const samples = parseExposition(await r.render());
    expect(samples.get('keyswitch_registrations_total{protocol="sip"}')).toBe('3');
    expect(samples.get('keyswitch_registrations_total{protocol="h323"}')).toBe('1');
    expect(samples.get('keyswitch_auth_failures_total{reason="bad \\"mac\\"\\nline\\\\x"}')).toBe('1');
    expect(samples.get('keyswitch_calls_active')).toBe('3');
    expect(samples.get('keyswitch_weird{v="inf"}')).toBe('+Inf');
    expect(samples.get('keyswitch_weird{v="nan"}')).toBe('NaN');
    expect(regs.get({ protocol: 'sip' })).toBe(3);
    expect(regs.get({ protocol: 'mgcp' })).toBe(0);
    expect(await r.render()).not.toContain('mgcp');
  });

  it('refuses bad names, unknown or missing labels, decreasing counters and conflicting registrations', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter('bad-name', 'x')).toThrow();
    expect(() => r.counter('ok_total', 'x', { labelNames: ['__reserved'] })).toThrow();
    const c = r.counter('ok_total', 'x', { labelNames: ['a'] });
    expect(() => c.inc({ b: '1' } as never)).toThrow(/unknown label/);
    expect(() => c.inc()).toThrow(/missing label/);
    expect(() => c.inc({ a: '1' }, -1)).toThrow();
    expect(r.counter('ok_total', 'x', { labelNames: ['a'] })).toBe(c);
    expect(() => r.gauge('ok_total', 'x')).toThrow(/already registered/);
    const capped = r.counter('capped_total', 'x', { labelNames: ['a'], maxSeries: 2 });
    capped.inc({ a: 1 });
    capped.inc({ a: 2 });
    expect(() => capped.inc({ a: 3 })).toThrow(/too many/);
  });

  it('serves /metrics over HTTP with the 0.0.4 content type', async () => {
    const r = new MetricsRegistry();
    r.gauge('keyswitch_up', 'Process up').onCollect((g) => g.set(1));
    server = await startMetricsServer(r, { host: '127.0.0.1', port: 0 });
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE);
    expect(parseExposition(await res.text()).get('keyswitch_up')).toBe('1');
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
