import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from './lab.js';

let lab: Lab;
afterEach(async () => lab?.close());

const SEEDS = [
  'RSIP 1 *@gw1.lab.example MGCP 1.0\nRM: restart\nX-KS-IDC: gw1@lab.example\nX-KS-N1: AAAAAAAAAAAAAAAAAAAAAA\nX-KS-TS: 1764097200\n',
  'NTFY 2 *@gw1.lab.example MGCP 1.0\nX: 1\nO: ks/auth\nX-KS-IDC: gw1@lab.example\nX-KS-RESPONSE: AAAAAAAAAAAAAAAAAAAAAA\nX-KS-N1: AAAAAAAAAAAAAAAAAAAAAA\nX-KS-N2: AAAAAAAAAAAAAAAAAAAAAA\nX-KS-TS: 1764097200\nX-KS-MECHS: app-hmac;q=0.5\n',
  'RQNT 3 *@gw1.lab.example MGCP 1.0\nX: 1\nX-KS-IDC: gw1@lab.example\nX-KS-IDSP: sbc1.lab.example\nX-KS-RAND: AAAAAAAAAAAAAAAAAAAAAA\nX-KS-EKC: AAAA\nX-KS-EKSP: AAAA\n',
  'AUEP 4 *@gw1.lab.example MGCP 1.0\nF: A\nX-KS-SEQ: 1\nX-KS-HMAC: AAAAAAAAAAAAAAAAAAAAAA\n',
  '200 5 OK\nK:\n',
  '000 6\n',
];

describe('MGCP servers under garbage', () => {
  it('random and mutated datagrams to every socket: answers or drops, counters move, and a registration still works', async () => {
    lab = await startLab();
    const idc = 'gw1@lab.example';
    const gw = await lab.gateway({ idc, kc: lab.provision(idc) });
    const targets = [lab.sbc.port, lab.sbc.corePort, lab.ss.port, gw.port];
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    s.on('message', () => {});
    const datagram = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 400 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(300), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }))
        .map(([seed, edits]) => {
          const b = Buffer.from(seed);
          for (const [i, v] of edits) b[i % b.length] = v;
          return b;
        }),
    );
    const samples = fc.sample(datagram, { numRuns: 1200, seed: 3435 });
    for (let i = 0; i < samples.length; i++) {
      s.send(samples[i]!, targets[i % targets.length]!, '127.0.0.1');
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 300));
    s.close();

    const st = lab.sbc.stats();
    expect(st.access.parseErrors).toBeGreaterThan(0);
    expect(st.core.parseErrors + st.counters.foreignCore).toBeGreaterThan(0);
    expect(lab.ss.stats().transport.parseErrors).toBeGreaterThan(0);
    expect(st.counters.registered).toBe(0);
    expect(st.sessions).toBe(0);
    expect(lab.auc.registrations).toHaveLength(0);

    const r = await gw.register();
    expect(r.ok).toBe(true);
  });
});
