/**
 * A UDP relay in front of a loopback server, to capture what a real client
 * sends (a softswitch's RADIUS to the AuC, say) while it keeps working: each
 * client address:port gets its own upstream socket, so answers find their way back.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface UdpRelay {
  /** Every datagram a client sent through the relay, in order. */
  sent: Buffer[];
  close(): Promise<void>;
}

export async function udpRelay(listenPort: number, targetPort: number): Promise<UdpRelay> {
  const front = createSocket('udp4');
  const backs = new Map<string, Socket>();
  const sent: Buffer[] = [];
  front.on('message', (m, from) => {
    sent.push(Buffer.from(m));
    const key = `${from.address}:${from.port}`;
    let back = backs.get(key);
    if (!back) {
      back = createSocket('udp4');
      back.on('message', (answer) => front.send(answer, from.port, from.address));
      backs.set(key, back);
    }
    back.send(m, targetPort, '127.0.0.1');
  });
  await new Promise<void>((r) => front.bind(listenPort, '127.0.0.1', () => r()));
  return {
    sent,
    async close() {
      for (const b of backs.values()) b.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}
