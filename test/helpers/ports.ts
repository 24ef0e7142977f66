import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * Ports free for both UDP and TCP on 127.0.0.1 and 0.0.0.0 right now, for
 * daemons that must be told their ports up front (roles pointing at each other).
 */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  const holders: { close(): void }[] = [];
  while (out.length < n) {
    const tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '0.0.0.0', resolve));
    const port = (tcp.address() as { port: number }).port;
    holders.push(tcp);
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '0.0.0.0', () => resolve(true));
    });
    if (ok) {
      holders.push(udp);
      out.push(port);
    } else udp.close();
  }
  for (const h of holders) h.close();
  return out;
}
