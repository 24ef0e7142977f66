/**
 * A UDP relay that holds what clients send for `delayMs` before passing it
 * on (answers come back at once): a peer whose socket is loaded, as far as
 * the client can tell, but that loses nothing. `delayMs` can be changed
 * while it runs.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface UdpDelay {
  port: number;
  delayMs: number;
  close(): void;
}

export async function udpDelay(targetPort: number, delayMs: number): Promise<UdpDelay> {
  const front = createSocket('udp4');
  const backs = new Map<string, Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const relay: UdpDelay = {
    port: 0,
    delayMs,
    close() {
      for (const t of timers) clearTimeout(t);
      for (const b of backs.values()) b.close();
      front.close();
    },
  };
  front.on('message', (m, from) => {
    const key = `${from.address}:${from.port}`;
    let back = backs.get(key);
    if (!back) {
      back = createSocket('udp4');
      back.on('message', (answer) => front.send(answer, from.port, from.address));
      backs.set(key, back);
    }
    const up = back;
    const t = setTimeout(() => {
      timers.delete(t);
      up.send(m, targetPort, '127.0.0.1');
    }, relay.delayMs);
    timers.add(t);
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  relay.port = front.address().port;
  return relay;
}
