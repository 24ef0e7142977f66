import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketWait } from '../../src/lib/socket-wait.js';

/** How long datagrams wait in a socket: a probe the process sends itself, read behind whatever queued first. */

const sockets: Socket[] = [];
const probes: SocketWait[] = [];
afterEach(() => {
  for (const p of probes.splice(0)) p.stop();
  for (const s of sockets.splice(0)) s.close();
});

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the process saturated: nothing is read from the socket meanwhile
  }
}

describe('SocketWait', () => {
  it('reads how long its probe waited behind a stalled process, and passes everything else to the handler', async () => {
    const s = await bound();
    const wait = new SocketWait(s).start(20);
    probes.push(wait);
    const handled: string[] = [];
    s.on('message', (buf, from) => {
      if (wait.take(buf, from)) return;
      handled.push(buf.toString());
      // the first datagram sent a probe; the process then stalls with it in the socket
      if (handled.length === 1) block(150);
    });
    const other = await bound();
    other.send('hello', s.address().port, '127.0.0.1');
    await expect.poll(() => handled.length, { timeout: 2000, interval: 5 }).toBe(1);
    await expect.poll(() => wait.waitMs(), { timeout: 2000, interval: 5 }).toBeGreaterThanOrEqual(140);
    expect(handled).toEqual(['hello']);
    // read once: the next reading is of what came after
    expect(wait.waitMs()).toBe(0);
  });

  it('probes only while datagrams arrive: an idle socket sends nothing', async () => {
    const s = await bound();
    const wait = new SocketWait(s).start(5);
    probes.push(wait);
    let probesRead = 0;
    s.on('message', (buf, from) => {
      if (wait.take(buf, from)) probesRead++;
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(probesRead).toBe(0);
    const other = await bound();
    for (let i = 0; i < 3; i++) {
      other.send('x', s.address().port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 15));
    }
    await expect.poll(() => probesRead, { timeout: 2000, interval: 5 }).toBe(3);
  });

  it('takes no datagram from another source for a probe, even one of the probe\'s size', async () => {
    const s = await bound();
    const wait = new SocketWait(s).start(5);
    probes.push(wait);
    const handled: Buffer[] = [];
    s.on('message', (buf, from) => {
      if (!wait.take(buf, from)) handled.push(buf);
    });
    const attacker = await bound();
    const forged = Buffer.alloc(16);
    forged.writeDoubleBE(-1e9, 8); // would read as a wait of a million seconds
    attacker.send(forged, s.address().port, '127.0.0.1');
    await expect.poll(() => handled.length, { timeout: 2000, interval: 5 }).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(wait.waitMs()).toBeLessThan(1e6);
  });

  it('a probe that never comes back reads as no wait, not as a stuck socket', async () => {
    const s = await bound();
    const wait = new SocketWait(s).start(5);
    probes.push(wait);
    // the handler gives datagrams to the probe, but never the probes back (as if they were filtered out)
    let n = 0;
    s.on('message', (buf, from) => {
      if (buf.length !== 16) wait.take(buf, from);
      n++;
    });
    const other = await bound();
    other.send('x', s.address().port, '127.0.0.1');
    await expect.poll(() => n, { timeout: 2000, interval: 5 }).toBe(2);
    await new Promise((r) => setTimeout(r, 60));
    expect(wait.waitMs()).toBe(0);
  });
});
