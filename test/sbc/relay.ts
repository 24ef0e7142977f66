/**
 * A UDP man in the middle for tests: the client talks to the relay, the relay
 * talks to the server from its own socket, and every datagram can be
 * recorded or rewritten on the way.
 */
import dgram from 'node:dgram';
import type { PcapPacket } from '../helpers/pcap.js';

/** Global order of relayed packets across relays, for merging captures. */
let order = 0;

export interface Relay {
  port: number;
  packets: Array<PcapPacket & { order: number; dir: 'up' | 'down' }>;
  /** Rewrites a datagram; return it unchanged to pass it on. */
  tamper: ((dir: 'up' | 'down', data: Buffer) => Buffer) | undefined;
  close(): Promise<void>;
}

export async function startRelay(server: { host: string; port: number }): Promise<Relay> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  let client: { address: string; port: number } | undefined;
  const relay: Relay = {
    port,
    packets: [],
    tamper: undefined,
    close: () => new Promise((r) => sock.close(() => r())),
  };
  sock.on('message', (msg, rinfo) => {
    const fromServer = rinfo.address === server.host && rinfo.port === server.port;
    if (!fromServer) client = { address: rinfo.address, port: rinfo.port };
    const dir = fromServer ? 'down' : 'up';
    const out = relay.tamper ? relay.tamper(dir, msg) : msg;
    const to = fromServer ? client : { address: server.host, port: server.port };
    if (!to) return;
    relay.packets.push({ proto: 'udp', src: [rinfo.address, rinfo.port], dst: [to.address, to.port], payload: out, order: order++, dir });
    sock.send(out, to.port, to.address);
  });
  return relay;
}
