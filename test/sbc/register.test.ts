/** Full KS1 registrations through the SBC, over UDP and TCP, with each mechanism. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSip } from '../../src/terminal/register.js';
import { startLab, sbcPort, type Lab } from './setup.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab();
});
afterAll(() => lab.close());

describe('KS1 registration through the SBC', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    for (const mech of ['app-hmac', 'tls-psk', 'tls'] as const) {
      it(`${transport}, ${mech}: registers, refreshes under the mechanism and gets OPTIONS answered`, async () => {
        const idc = `${mech}-${transport}@lab.example`;
        const kc = lab.provision(idc);
        const r = await registerSip(lab.terminal(idc, kc, { transport, mechs: `${mech};q=0.9`, sbc: { host: '127.0.0.1', port: sbcPort(lab, transport) } }));
        expect(r).toMatchObject({ ok: true, protocol: 'sip', idc, idsp: 'sbc1.lab.example', mechanism: mech });
        if (!r.ok) return;
        expect(r.sessionKeyId).toMatch(/^[0-9a-f]{8}$/);
        const rec = lab.sbc.sessions.get(idc);
        expect(rec?.session.mechanism).toBe(mech);
      });
    }
  }
});

describe('what the core saw', () => {
  it('refreshes under app-hmac and tls-psk reached the core with P-KS-Auth and without KS-HMAC; tls re-ran KS1', () => {
    const refreshes = lab.core.seen.filter((r) => r.get('P-KS-Auth'));
    const users = refreshes.map((r) => `${(r.to().uri as { user: string }).user}:${r.get('P-KS-Auth')}`).sort();
    expect(users).toEqual([
      'app-hmac-tcp:mechanism=app-hmac', 'app-hmac-udp:mechanism=app-hmac', 'tls-psk-tcp:mechanism=tls-psk', 'tls-psk-udp:mechanism=tls-psk',
    ]);
    for (const r of refreshes) {
      expect(r.get('KS-HMAC')).toBeUndefined();
      expect(r.get('P-KS-IDSP')).toBe('sbc1.lab.example');
    }
    const s8 = lab.core.seen.filter((r) => r.get('P-KS-Mech'));
    // 6 terminals; the tls ones three times (UDP/TCP first, then over TLS, then the refresh over TLS)
    expect(s8).toHaveLength(10);
    for (const r of s8) {
      expect(r.get('Authorization')).toMatch(/^KS1 username="[^"]+", realm="sbc1\.lab\.example", nonce="[\w-]{22}", response="[\w-]{22}"$/);
      expect(r.get('Security-Client')).toBeUndefined();
      expect(r.get('P-KS-IPC')).toBe('127.0.0.1');
    }
    expect(lab.sbc.stats().sip).toMatchObject({ registered: 10, refreshed: 4, answeredLocally: 6, rejected: 0 });
  });
});
