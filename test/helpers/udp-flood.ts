import { createSocket, type Socket } from 'node:dgram';

/**
 * An attacker with many sources: `sources` sockets on 127.0.0.1, each sending `perSource` datagrams to
 * `port` at once. `datagram(k, i, port)` makes the i-th (1-based) of source k, bound to `port`;
 * `final(buf)` reads an answer as [transaction id, final answer text] pairs, and the flood keeps the last
 * per source and transaction (an answer may come again until acknowledged). Close the sockets after.
 */
export async function udpFlood(o: {
  port: number;
  sources: number;
  perSource: number;
  datagram: (k: number, i: number, port: number) => Buffer | string;
  final: (buf: Buffer) => Array<[number, string]>;
}): Promise<{ sockets: Socket[]; answers: Map<string, string>; count(text: string): number }> {
  const sockets: Socket[] = [];
  const answers = new Map<string, string>();
  for (let k = 0; k < o.sources; k++) {
    const s = createSocket('udp4');
    sockets.push(s);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.on('message', (buf) => {
      for (const [id, text] of o.final(buf)) answers.set(`${k}/${id}`, text);
    });
    for (let i = 1; i <= o.perSource; i++) s.send(o.datagram(k, i, s.address().port), o.port, '127.0.0.1');
  }
  return { sockets, answers, count: (text) => [...answers.values()].filter((t) => t === text).length };
}
