import { afterEach, describe, expect, it } from 'vitest';
import { MgcpTransport } from '../../src/mgcp/transport.js';
import { udpRelay } from '../helpers/udp-relay.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

const auep = { verb: 'AUEP', endpoint: 'aaln/1@gw.lab.example', version: '1.0', params: [] };

describe('MGCP transport: the retransmission timer follows late responses (RFC 3435 §4.3)', () => {
  it('a call agent answering 300 ms late gets the first commands twice, then each once; quick answers bring 200 ms back', async () => {
    // No provisional from the server within the test: the delay is all on the way.
    const server = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }), provisionalAfterMs: 60_000 });
    const client = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }) });
    const path = await udpRelay(0, server.port, 300);
    open.push(path, client, server);
    const to = { host: '127.0.0.1', port: path.port };
    for (let i = 0; i < 10; i++) expect((await client.send(to, auep)).ok).toBe(true);
    const early = client.stats().retransmissions;
    expect(early).toBeGreaterThanOrEqual(1);
    expect(client.stats().rtoMs).toBeGreaterThan(300);
    for (let i = 0; i < 10; i++) expect((await client.send(to, auep)).ok).toBe(true);
    expect(client.stats().retransmissions).toBe(early);
    expect(server.stats().commandsIn - server.stats().duplicates).toBe(20);

    path.delayMs = 0;
    for (let i = 0; i < 60; i++) expect((await client.send(to, auep)).ok).toBe(true);
    expect(client.stats().rtoMs).toBe(200);
  });
});
