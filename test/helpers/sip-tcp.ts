import net from 'node:net';
import { parseMessage, type SipResponse } from '../../src/sip/index.js';

/** Sends raw SIP bytes over a fresh TCP connection to 127.0.0.1:`port` and returns the first answer. */
export async function tcpExchange(port: number, bytes: Buffer): Promise<SipResponse> {
  const sock = net.connect({ host: '127.0.0.1', port });
  try {
    await new Promise((r) => sock.once('connect', r));
    const got = new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.includes('\r\n\r\n')) resolve(buf);
      });
    });
    sock.write(bytes);
    const r = parseMessage(await got, { datagram: true });
    if (!r.ok || !r.message.isResponse()) throw new Error('no response');
    return r.message as SipResponse;
  } finally {
    sock.destroy();
  }
}
