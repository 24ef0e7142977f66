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
      expect(finals[0]!.status).toBe(401); // the core does not know this IDc: challenged like any other
      expect(finals[0]!.vias()[0]!.params.rport).toBe(String(sock.address().port));
      expect(lab.sbc.stats().untrusted.retransmissionsAbsorbed).toBeGreaterThanOrEqual(1);
    } finally {
      lab.core.delayMs = 0;
      sock.close();
    }
  });
  it('a 100 Trying for a slow non-INVITE carries only the terminal\'s own Via, never the SBC\'s core-side one', async () => {
    lab.core.delayMs = 600;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: SipResponse[] = [];
    sock.on('message', (m) => {
      const r = parseMessage(m);
      if (r.ok && r.message.isResponse()) got.push(r.message as SipResponse);
    });
    const port = sock.address().port;
    const msg = Buffer.from([
      'MESSAGE sip:bob@lab.example SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKslowmsg;rport`,
      'Max-Forwards: 70',
      'From: <sip:nobody@lab.example>;tag=m1',
      'To: <sip:bob@lab.example>',
      'Call-ID: slow-msg-1',
      'CSeq: 1 MESSAGE',
      'Content-Type: text/plain',
      'Content-Length: 2',
      '',
      'hi',
    ].join('\r\n'));
    try {
      await new Promise<void>((r) => sock.send(msg, lab.sbc.ports.udp!, '127.0.0.1', () => r()));
      for (let i = 0; i < 150 && !got.some((r) => r.status >= 200); i++) await new Promise((r) => setTimeout(r, 10));
      const trying = got.find((r) => r.status === 100);
      expect(trying, 'a 100 Trying while the core is slow').toBeDefined();
      // RFC 3261 §18.1.2: the top Via of a response must be the one the UA sent, else the UA drops it
      const vias = trying!.vias();
      expect(vias).toHaveLength(1);
      expect(vias[0]!.port).toBe(port);
      expect(vias[0]!.params.branch).toBe('z9hG4bKslowmsg');
      const final = got.find((r) => r.status >= 200)!;
      expect(final.vias()).toHaveLength(1);
    } finally {
      lab.core.delayMs = 0;
      sock.close();
    }
  });
});
