import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPair } from './setup.js';

describe('RADIUS AuC client: many requests in flight', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  beforeAll(async () => {
    pair = await startPair({ client: { timeoutMs: 2000, retries: 2, totalTimeoutMs: 20_000 } });
  });
  afterAll(async () => pair.close());

  it('answers 1500 concurrent vector requests, each with its own vector, over several sockets', async () => {
    const n = 1500;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => pair.client.vector({ idc: `user${i}@lab.example`, idsp: 'sbc1.lab.example' })),
    );
    const byIdc = new Map(pair.auc.vectors.map((v) => [v.idc, v]));
    for (let i = 0; i < n; i++) {
      const r = results[i];
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.vector.idc).toBe(`user${i}@lab.example`);
      expect(r.vector.authenticator.equals(byIdc.get(r.vector.idc)!.authenticator)).toBe(true);
    }
    const s = pair.client.stats();
    expect(s.sockets).toBeGreaterThanOrEqual(Math.ceil(n / 256));
    expect(s.inFlight).toBe(0);
    expect(pair.server.stats().accessAccepts).toBeGreaterThanOrEqual(n);
  });

  it('caps sockets and queues the excess instead of failing', async () => {
    const { RadiusAucClient } = await import('../../src/adapters/radius/auc-client.js');
    const { SECRET } = await import('./setup.js');
    const client = new RadiusAucClient({
      secret: SECRET,
      servers: [{ host: '127.0.0.1', authPort: pair.server.authPort, acctPort: pair.server.acctPort }],
      maxSockets: 1,
      timeoutMs: 2000,
      totalTimeoutMs: 20_000,
    });
    try {
      const results = await Promise.all(Array.from({ length: 600 }, (_, i) => client.vector({ idc: `q${i}@lab.example`, idsp: 'sbc1.lab.example' })));
      expect(results.every((r) => r.ok)).toBe(true);
      expect(client.stats().sockets).toBe(1);
    } finally {
      await client.close();
    }
  });
});
