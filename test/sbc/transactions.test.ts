/** Transaction behaviour towards terminals: retransmissions absorbed, 100 Trying for a slow core over UDP. */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type SipResponse } from '../../src/sip/index.js';
import { startLab, type Lab } from './setup.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab();
});
afterAll(() => lab.close());

describe('towards terminals', () => {
  it('absorbs retransmissions and sends 100 Trying over UDP only once the core is slower than T2', async () => {
    lab.core.delayMs = 600; // FAST: T2 = 200 ms
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: SipResponse[] = [];
    sock.on('message', (m) => {
      const r = parseMessage(m);
      if (r.ok && r.message.isResponse()) got.push(r.message as SipResponse);
    });
    const msg = Buffer.from([
      'REGISTER sip:lab.example SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bKslow1;rport`,
      'Max-Forwards: 70',
      'From: <sip:slow@lab.example>;tag=s1',
      'To: <sip:slow@lab.example>',
      'Call-ID: slow-1',
      'CSeq: 1 REGISTER',
      'Contact: <sip:slow@127.0.0.1>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'));
    const send = () => new Promise<void>((r) => sock.send(msg, lab.sbc.ports.udp!, '127.0.0.1', () => r()));
    try {
      await send();
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toHaveLength(0); // no 100 before T2 (RFC 4320)
      await send(); // retransmission
      await new Promise((r) => setTimeout(r, 1000));
      expect(lab.core.seen.filter((r) => r.get('Call-ID') === 'slow-1')).toHaveLength(1);
      expect(got.map((r) => r.status)).toContain(100);
      const finals = got.filter((r) => r.status >= 200);
      expect(finals.length).toBeGreaterThanOrEqual(1);
      expect(finals[0]!.status).toBe(403); // the core does not know this IDc
      expect(finals[0]!.vias()[0]!.params.rport).toBe(String(sock.address().port));
      expect(lab.sbc.stats().untrusted.retransmissionsAbsorbed).toBeGreaterThanOrEqual(1);
    } finally {
      lab.core.delayMs = 0;
      sock.close();
    }
  });
});
