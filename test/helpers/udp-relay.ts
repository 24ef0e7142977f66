/**
 * A UDP relay in front of a loopback server, to capture what a real client
 * sends (a softswitch's RADIUS to the AuC, say) while it keeps working: each
 * client address:port gets its own upstream socket, so answers find their way back.
 * With `delayMs` it holds what clients send that long before passing it on
 * (answers come back at once): a peer whose socket is loaded, as far as the
 * client can tell, but that loses nothing. `delayMs` can be changed while it runs.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface UdpRelay {
  /** The port it listens on (the one asked for, or the one the system gave for 0). */
  port: number;
  /** Every datagram a client sent through the relay, in order. */
  sent: Buffer[];
  delayMs: number;
  close(): Promise<void>;
}

export async function udpRelay(listenPort: number, targetPort: number, delayMs = 0): Promise<UdpRelay> {
  const front = createSocket('udp4');
  const backs = new Map<string, Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const relay: UdpRelay = {
    port: listenPort,
    sent: [],
    delayMs,
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const b of backs.values()) b.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
  front.on('message', (m, from) => {
    relay.sent.push(Buffer.from(m));
    const key = `${from.address}:${from.port}`;
    let back = backs.get(key);
    if (!back) {
      back = createSocket('udp4');
      back.on('message', (answer) => front.send(answer, from.port, from.address));
      backs.set(key, back);
    }
    const up = back;
    if (relay.delayMs <= 0) {
      up.send(m, targetPort, '127.0.0.1');
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      up.send(m, targetPort, '127.0.0.1');
    }, relay.delayMs);
    timers.add(t);
  });
  await new Promise<void>((r) => front.bind(listenPort, '127.0.0.1', () => r()));
  relay.port = front.address().port;
  return relay;
}
