/**
 * A RADIUS request replayed from a forged source port 0 (a raw socket; the
 * source address is an allowed client's): the answer cannot be sent, and
 * Node throws at once for it. The server counts it and keeps serving.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { startRadiusUdpServer } from '../../src/radius/udp-server.js';
import { rawUdpUnavailable, sendFromPort0 } from '../helpers/raw-udp.js';

const request = (id: number) => Buffer.concat([Buffer.from([1, id, 0, 20]), Buffer.alloc(16, id)]);

describe.skipIf(rawUdpUnavailable())('RADIUS server: a request from source port 0', () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`is answered into nothing and counted, not a crash (${mode} handler); a client is still answered`, async () => {
      const answer = (msg: Buffer) => Buffer.concat([Buffer.from([2, msg[1]!, 0, 20]), Buffer.alloc(16)]);
      const server = await startRadiusUdpServer({
        host: '127.0.0.1',
        port: 0,
        clients: ['127.0.0.1'],
        handler: mode === 'sync' ? answer : async (msg) => answer(msg),
      });
      const client = createSocket('udp4');
      try {
        sendFromPort0('127.0.0.1', server.port, request(7));
        for (let i = 0; i < 50 && server.stats().sendErrors === 0; i++) await new Promise((r) => setTimeout(r, 20));
        expect(server.stats()).toMatchObject({ received: 1, sendErrors: 1, sent: 0 });
        const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
        client.send(request(8), server.port, '127.0.0.1');
        expect((await reply)[1]).toBe(8);
        expect(server.stats()).toMatchObject({ received: 2, sent: 1 });
      } finally {
        client.close();
        await server.close();
      }
    });
  }
});
