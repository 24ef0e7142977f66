/** UDP helpers for the MGCP tests: a raw exchange and a lossy proxy. */
import dgram from 'node:dgram';

/** Sends bytes from a fresh socket and collects what comes back within `waitMs`. */
export async function exchange(port: number, data: Buffer, waitMs = 300): Promise<string[]> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const got: string[] = [];
  s.on('message', (m) => got.push(m.toString()));
  s.send(data, port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, waitMs));
  s.close();
  return got;
}

/** Like exchange, but resolves as soon as the first answer arrives. */
export async function ask(port: number, data: Buffer, timeoutMs = 2000): Promise<string | undefined> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  try {
    return await new Promise<string | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      s.on('message', (m) => {
        clearTimeout(t);
        resolve(m.toString());
      });
      s.send(data, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

export interface LossyProxy {
  port: number;
  dropped: { dir: 'up' | 'down'; text: string }[];
  close(): Promise<void>;
}

/**
 * One client ⇄ target. `drop` sees each message of each datagram (up: client
 * → target; several when piggy-backed) and returns true to lose it, and with
 * it the datagram that carries it.
 */
export async function lossyProxy(targetPort: number, drop: (dir: 'up' | 'down', text: string) => boolean): Promise<LossyProxy> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  let client: { address: string; port: number } | undefined;
  const dropped: LossyProxy['dropped'] = [];
  s.on('message', (m, rinfo) => {
    const up = rinfo.port !== targetPort;
    if (up) client = { address: rinfo.address, port: rinfo.port };
    const dir = up ? 'up' : 'down';
    const lost = m
      .toString()
      .split(/(?<=\n)\.\n/)
      .find((text) => drop(dir, text));
    if (lost !== undefined) {
      dropped.push({ dir, text: lost });
      return;
    }
    if (up) s.send(m, targetPort, '127.0.0.1');
    else if (client) s.send(m, client.port, client.address);
  });
  return { port: s.address().port, dropped, close: () => new Promise((r) => s.close(() => r())) };
}

/** Drops only the first datagram that `match` selects. */
export function dropFirst(match: (dir: 'up' | 'down', text: string) => boolean): (dir: 'up' | 'down', text: string) => boolean {
  let done = false;
  return (dir, text) => {
    if (done || !match(dir, text)) return false;
    done = true;
    return true;
  };
}
