import { createConnection, createServer, type Socket } from 'node:net';

/**
 * One address on 127.0.0.1 whose TCP connections go to a target port that can
 * be moved or cut, as a virtual address a failover tool moves (or a network
 * partition): clients keep one URL and reconnect to whatever is behind it.
 */
export interface TcpForward {
  readonly port: number;
  /** From now on connections go to `port`; the open ones are cut (their clients reconnect). */
  to(port: number): void;
  /** Cuts the open connections and refuses new ones until `to`. */
  cut(): void;
  close(): Promise<void>;
}

export async function tcpForward(target: number): Promise<TcpForward> {
  let to: number | undefined = target;
  const open = new Set<Socket>();
  const track = (s: Socket): void => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => s.destroy());
  };
  const cutAll = (): void => {
    for (const s of open) s.destroy();
  };
  const server = createServer((c) => {
    track(c);
    if (to === undefined) return void c.destroy();
    const u = createConnection({ host: '127.0.0.1', port: to });
    track(u);
    c.pipe(u).pipe(c);
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    to(port) {
      to = port;
      cutAll();
    },
    cut() {
      to = undefined;
      cutAll();
    },
    close() {
      to = undefined;
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
