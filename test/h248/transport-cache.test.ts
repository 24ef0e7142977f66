import { afterEach, describe, expect, it } from 'vitest';
import { H248Endpoint, type Action, type Peer } from '../../src/h248/index.js';

const open: H248Endpoint[] = [];
afterEach(() => {
  for (const ep of open.splice(0)) ep.close();
});

async function endpoint(mid: string, replyCacheMs = 30_000): Promise<H248Endpoint> {
  const ep = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, {
    mid,
    timers: { replyCacheMs },
    onRequest: (req) => ({ actions: req.transaction.actions }),
  });
  open.push(ep);
  return ep;
}

const peerOf = (ep: H248Endpoint): Peer => ({ address: '127.0.0.1', port: ep.port });
const notify: Action[] = [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [] }] }];

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('H.248 transport reply cache', () => {
  it('answered requests leave the cache of every open endpoint once their time is past, and only then', async () => {
    const client = await endpoint('[127.0.0.1]:1');
    const shortA = await endpoint('[127.0.0.1]:2', 100);
    const shortB = await endpoint('[127.0.0.1]:3', 100);
    const long = await endpoint('[127.0.0.1]:4');
    for (const server of [shortA, shortB, long]) {
      for (let i = 0; i < 3; i++) expect((await client.request(peerOf(server), notify)).ok).toBe(true);
      expect(server.stats().cached).toBe(3);
    }
    shortB.close(); // a closed endpoint leaves the others swept
    await until(() => shortA.stats().cached === 0);
    expect(shortA.stats().cached).toBe(0);
    expect(long.stats().cached).toBe(3); // kept for its 30 s: a retransmission still gets the same answer
  });

  it('a datagram from a forged source port 0 is answered into nothing, not a crash; the endpoint still serves others', async () => {
    const server = await endpoint('[127.0.0.1]:7');
    const client = await endpoint('[127.0.0.1]:8');
    // A UDP source port of 0 takes a raw socket to send; what arrives is this event.
    server.socket.emit('message', Buffer.from('!/1 [127.0.0.1]:9 T=5{C=-{N=ROOT{}}}'), { address: '127.0.0.1', family: 'IPv4', port: 0, size: 30 });
    await new Promise((r) => setTimeout(r, 20));
    expect(server.stats().sendErrors).toBeGreaterThan(0);
    expect((await client.request(peerOf(server), notify)).ok).toBe(true);
  });

  it('a reply received is acknowledged on the next reply to that peer, which frees the copy kept there at once', async () => {
    const a = await endpoint('[127.0.0.1]:5');
    const b = await endpoint('[127.0.0.1]:6');
    expect((await a.request(peerOf(b), notify)).ok).toBe(true);
    expect((await a.request(peerOf(b), notify)).ok).toBe(true);
    expect(b.stats().cached).toBe(2); // requests carry no acks
    expect((await b.request(peerOf(a), notify)).ok).toBe(true); // a's reply carries the acks of both
    expect(b.stats().acksReceived).toBe(1);
    expect(b.stats().cached).toBe(0);
    expect(a.stats().cached).toBe(1); // b has not replied to anything since: its ack waits
  });
});
