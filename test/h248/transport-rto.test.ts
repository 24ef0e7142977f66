import { afterEach, describe, expect, it } from 'vitest';
import { H248Endpoint, type Action } from '../../src/h248/index.js';
import { udpRelay, type UdpRelay } from '../helpers/udp-relay.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

const notify: Action[] = [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [] }] }];

async function pair(delayMs: number): Promise<{ client: H248Endpoint; server: H248Endpoint; path: UdpRelay }> {
  // No Pending from the server: its handler answers at once, the delay is all on the way.
  const server = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:2', onRequest: (req) => ({ actions: req.transaction.actions }) });
  const client = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:1', onRequest: () => ({ actions: [] }) });
  const path = await udpRelay(0, server.port, delayMs);
  open.push(server, client, path);
  return { client, server, path };
}

describe('H.248 transport: the retransmission timer follows late replies', () => {
  it('a peer answering every request 300 ms late gets the first ones twice, then each once; quick replies bring t1 back', async () => {
    const { client, server, path } = await pair(300);
    const to = { address: '127.0.0.1', port: path.port };
    for (let i = 0; i < 10; i++) expect((await client.request(to, notify)).ok).toBe(true);
    const early = client.stats().retransmissions;
    expect(early).toBeGreaterThanOrEqual(1); // the first request, at t1 = 200 ms
    expect(client.stats().rtoMs).toBeGreaterThan(300);
    for (let i = 0; i < 10; i++) expect((await client.request(to, notify)).ok).toBe(true);
    expect(client.stats().retransmissions).toBe(early); // none after the timer learnt the delay
    expect(server.stats().requests).toBe(20);

    path.delayMs = 0;
    for (let i = 0; i < 60; i++) expect((await client.request(to, notify)).ok).toBe(true);
    expect(client.stats().rtoMs).toBe(200);
  });

  it('a lost request is still sent again at t1 on a quick path', async () => {
    const { client, server } = await pair(0);
    const to = { address: '127.0.0.1', port: server.port };
    for (let i = 0; i < 5; i++) expect((await client.request(to, notify)).ok).toBe(true);
    expect(client.stats().rtoMs).toBe(200);
    const deaf = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:3', onRequest: () => new Promise(() => {}), timers: { pendingAfterMs: 60_000 } });
    open.push(deaf);
    const started = performance.now();
    void client.request({ address: '127.0.0.1', port: deaf.port }, notify);
    while (deaf.stats().duplicates === 0 && performance.now() - started < 3000) await new Promise((r) => setTimeout(r, 10));
    expect(deaf.stats().duplicates).toBe(1);
    expect(performance.now() - started).toBeLessThan(600);
  });
});
