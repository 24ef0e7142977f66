/** What /healthz reports (src/metrics/health.ts): listeners, checks, the disk floor, named start failures. */
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Health, ListenerError, diskCheck, healthAnswer, startListener } from '../../src/metrics/health.js';
import { startMetricsServer } from '../../src/metrics/server.js';

describe('Health', () => {
  it('is ok with its listeners up and names each that is down', async () => {
    const h = new Health();
    let listening = true;
    h.listener('A', '127.0.0.1:1 (udp)');
    h.listener('B', '127.0.0.1:2 (tcp)', () => listening);
    const c = h.listener('C', '127.0.0.1:3 (tcp)');
    expect(await healthAnswer(h)).toEqual({ status: 200, body: { status: 'ok', listeners: 3, down: [] } });
    listening = false;
    c.down('stopped');
    const r = await healthAnswer(h);
    expect(r.status).toBe(503);
    expect(r.body.down).toEqual([
      { part: 'B', address: '127.0.0.1:2 (tcp)', reason: 'not listening' },
      { part: 'C', address: '127.0.0.1:3 (tcp)', reason: 'stopped' },
    ]);
  });

  it('counts a check that fails, throws or hangs as down', async () => {
    const h = new Health();
    h.check('ok', async () => undefined);
    h.check('store', async () => 'sqlite store unreachable');
    h.check('throws', async () => {
      throw Object.assign(new Error('select secret'), { code: 'E1' });
    });
    h.check('hangs', () => new Promise(() => undefined));
    const r = await h.report();
    expect(r.ok).toBe(false);
    expect(r.down).toEqual([
      { part: 'store', reason: 'sqlite store unreachable' },
      { part: 'throws', reason: 'check failed: E1' },
      { part: 'hangs', reason: 'no answer within 2000 ms' },
    ]);
  });

  it('checks the free space of the data directory against its floor', async () => {
    expect(await diskCheck(tmpdir(), 0)()).toBeUndefined();
    expect(await diskCheck(tmpdir(), 1)()).toBeUndefined();
    expect(await diskCheck(tmpdir(), 2 ** 31 - 1)()).toMatch(/MiB free on the filesystem of .* below the 2147483647 MiB floor/);
    expect(await diskCheck('/no/such/dir/for/keyswitch', 1)()).toMatch(/cannot read the free space/);
  });

  it('serves /healthz and /metrics-less 404 from the role HTTP server', async () => {
    const h = new Health();
    h.check('disk', async () => 'full');
    const s = await startMetricsServer(undefined, { health: h });
    try {
      const r = await fetch(`http://127.0.0.1:${s.port}/healthz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ status: 'unavailable', down: [{ part: 'disk', reason: 'full' }] });
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect((await fetch(`http://127.0.0.1:${s.port}/metrics`)).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});

describe('startListener', () => {
  it('names the listener and the exact address refused, on one line', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const err = await startListener('SBC SIP TLS', `127.0.0.1:${port} (tls)`, () => startMetricsServer(undefined, { port })).catch((e: Error) => e);
      expect(err).toBeInstanceOf(ListenerError);
      expect((err as Error).message).toBe(`SBC SIP TLS cannot listen on 127.0.0.1:${port} (tls): address already in use (EADDRINUSE)`);
    } finally {
      holder.close();
    }
  });
});
