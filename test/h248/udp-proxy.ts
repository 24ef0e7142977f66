import { createSocket, type Socket } from 'node:dgram';

/**
 * A UDP proxy for tests: forwards each client's datagrams to `target` from
 * its own upstream socket (so the target sees one peer per client) and the
 * answers back, recording both directions and dropping what `drop` says.
 */
export interface Captured {
  dir: 'up' | 'down';
  client: string;
  payload: Buffer;
}

export interface UdpProxy {
  port: number;
  captured: Captured[];
  /** Sends raw bytes to the target from the upstream socket of the first (or given) client. */
  inject(payload: Buffer, client?: string): void;
  /** Sends raw bytes to a client (the first, or given) from the proxy's front socket: as if from the target. */
  injectDown(payload: Buffer, client?: string): void;
  /** Datagrams the proxy received back for clients since `from`. */
  clients(): string[];
  close(): void;
}

export async function startUdpProxy(
  target: { host: string; port: number },
  drop: (dir: 'up' | 'down', payload: Buffer, index: number) => boolean = () => false,
): Promise<UdpProxy> {
  const front = createSocket('udp4');
  const uplinks = new Map<string, Socket>();
  const captured: Captured[] = [];
  let index = 0;
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', r));
  front.on('message', (buf, rinfo) => {
    const client = `${rinfo.address}:${rinfo.port}`;
    let up = uplinks.get(client);
    if (!up) {
      up = createSocket('udp4');
      up.bind(0, '127.0.0.1');
      up.on('message', (answer) => {
        if (drop('down', answer, index++)) return;
        captured.push({ dir: 'down', client, payload: answer });
        front.send(answer, rinfo.port, rinfo.address);
      });
      uplinks.set(client, up);
    }
    if (drop('up', buf, index++)) return;
    captured.push({ dir: 'up', client, payload: buf });
    up.send(buf, target.port, target.host);
  });
  return {
    port: front.address().port,
    captured,
    inject(payload, client) {
      const up = client ? uplinks.get(client) : uplinks.values().next().value;
      up?.send(payload, target.port, target.host);
    },
    injectDown(payload, client) {
      const to = client ?? uplinks.keys().next().value;
      if (!to) return;
      const i = to.lastIndexOf(':');
      front.send(payload, Number(to.slice(i + 1)), to.slice(0, i));
    },
    clients: () => [...uplinks.keys()],
    close() {
      front.close();
      for (const s of uplinks.values()) s.close();
    },
  };
}
