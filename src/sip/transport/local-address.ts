import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

/**
 * The source address this host would use toward host:port, read from a
 * connected UDP socket (connecting sends nothing), or undefined when there is
 * no route. For binding where a peer can answer: an address written in Via,
 * Contact or Record-Route must be one the peer reaches, never 0.0.0.0, and
 * never loopback for a peer on another host.
 */
export function localAddressToward(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const done = (address?: string) => {
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(address);
    };
    socket.once('error', () => done(undefined));
    // the callback gets the error of a failed connect (a name that does not resolve, no route)
    socket.connect(port, host, (err?: Error) => {
      let address: string | undefined;
      try {
        address = err ? undefined : socket.address().address;
      } catch {
        address = undefined;
      }
      done(address === '0.0.0.0' || address === '::' ? undefined : address);
    });
  });
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}
