import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AucUnavailableError } from '../../src/contracts/auc.js';
import { startRadiusAucServer, type RadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import { RadiusAucClient } from '../../src/adapters/radius/auc-client.js';
import { FakeAuc } from './fake-auc.js';
import { SECRET, blackHole } from './setup.js';

describe('RADIUS AuC client: failover', () => {
  let hole: Awaited<ReturnType<typeof blackHole>>;
  let server: RadiusAucServer;
  const auc = new FakeAuc();
  beforeAll(async () => {
    hole = await blackHole();
    server = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service: auc });
  });
  afterAll(async () => {
    await hole.close();
    await server.close();
  });

  it('retries the primary, then fails over to the second server, and keeps using it while the primary is held down', async () => {
    const client = new RadiusAucClient({
      secret: SECRET,
      servers: [
        { host: '127.0.0.1', authPort: hole.port, acctPort: hole.port },
        { host: '127.0.0.1', authPort: server.authPort, acctPort: server.acctPort },
      ],
      timeoutMs: 100,
      retries: 1,
      totalTimeoutMs: 3000,
    });
    try {
      const r = await client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
      expect(r.ok).toBe(true);
      let s = client.stats();
      expect(s.failovers).toBe(1);
      expect(s.retransmissions).toBe(1); // the primary got its one retransmission
      await client.registered({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', ipc: '192.0.2.1', protocol: 'sip', contact: 'sip:alice@192.0.2.1', mechanism: 'app-hmac', expiresAt: Date.now() + 60_000 });
      s = client.stats();
      expect(s.failovers).toBe(1); // the held-down primary was not tried again
      expect(auc.registrations).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('throws AucUnavailableError when no server answers within the total time', async () => {
    const hole2 = await blackHole();
    const client = new RadiusAucClient({
      secret: SECRET,
      servers: [
        { host: '127.0.0.1', authPort: hole.port, acctPort: hole.port },
        { host: '127.0.0.1', authPort: hole2.port, acctPort: hole2.port },
      ],
      timeoutMs: 50,
      retries: 2,
      totalTimeoutMs: 500,
    });
    try {
      await expect(client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).rejects.toBeInstanceOf(AucUnavailableError);
      await expect(client.failed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).rejects.toBeInstanceOf(AucUnavailableError);
      expect(client.stats().timeouts).toBe(2);
      expect(client.stats().inFlight).toBe(0);
    } finally {
      await client.close();
      await hole2.close();
    }
  });
});
