import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { H248Endpoint, parseMessage } from '../../src/h248/index.js';

/** A bare UDP socket on loopback: the peer the endpoint asks, or a stranger. */
async function raw(): Promise<{ s: Socket; port: number; next(): Promise<string> }> {
  const s = createSocket('udp4');
  const queue: string[] = [];
  const waiters: ((t: string) => void)[] = [];
  s.on('message', (b) => (waiters.length ? waiters.shift()!(b.toString()) : queue.push(b.toString())));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { s, port: s.address().port, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))) };
}

const send = (s: Socket, port: number, text: string) => new Promise<void>((r) => s.send(text, port, '127.0.0.1', () => r()));

let open: { close(): void }[] = [];
afterEach(() => {
  for (const x of open) x.close();
  open = [];
});

describe('H.248 transport: a reply is matched by its transaction id and its sender', () => {
  it('a reply or Pending carrying our id from another address is stray; the asked peer still completes the request', async () => {
    const ep = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:1', onRequest: () => ({ actions: [] }), timers: { t1Ms: 5000 } });
    const peer = await raw();
    const stranger = await raw();
    open.push(ep, { close: () => peer.s.close() }, { close: () => stranger.s.close() });

    let settled = false;
    const outcome = ep.request({ address: '127.0.0.1', port: peer.port }, [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [] }] }]);
    void outcome.then(() => (settled = true));
    const asked = parseMessage(Buffer.from(await peer.next()));
    if (!asked.ok) throw new Error('the request did not parse');
    const id = (asked.message.transactions[0] as { id: number }).id;

    // the same id from a stranger's address, and from the peer's address under a party name it never used
    await send(stranger.s, ep.port, `!/1 [127.0.0.1]:9\nPN=${id}{}\nP=${id}{C=-{N=ROOT}}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    expect(ep.stats()).toMatchObject({ strayReplies: 1, outstanding: 1 });

    await send(peer.s, ep.port, `!/1 [127.0.0.1]:9\nP=${id}{C=-{N=ROOT}}`);
    const r = await outcome;
    expect(r.ok).toBe(true);
    expect(ep.stats()).toMatchObject({ strayReplies: 1, outstanding: 0 });
  });

  it('a namedPeers endpoint matches a reply to the party its mId names, not another party at the same address', async () => {
    const ep = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:1', namedPeers: true, onRequest: () => ({ actions: [] }), timers: { t1Ms: 5000 } });
    const peer = await raw();
    open.push(ep, { close: () => peer.s.close() });
    const outcome = ep.request({ address: '127.0.0.1', port: peer.port, mid: '[192.0.2.7]:2944' }, [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [] }] }]);
    const asked = parseMessage(Buffer.from(await peer.next()));
    if (!asked.ok) throw new Error('the request did not parse');
    expect(asked.message.mid).toBe('[192.0.2.7]:2944');
    const id = (asked.message.transactions[0] as { id: number }).id;

    await send(peer.s, ep.port, `!/1 [192.0.2.8]:2944\nP=${id}{C=-{N=ROOT}}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(ep.stats()).toMatchObject({ strayReplies: 1, outstanding: 1 });
    await send(peer.s, ep.port, `!/1 [192.0.2.7]:2944\nP=${id}{C=-{N=ROOT}}`);
    expect((await outcome).ok).toBe(true);
  });
});
