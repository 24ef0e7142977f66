/** P-KS-* from the untrusted side never reach the core; Digest phones pass through. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toB64u } from '../../src/crypto/ks1.js';
import { startLab, type Lab } from './setup.js';
import { rawTerminal } from './raw.js';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
import { newCallId, newTag } from '../../src/terminal/sip-uac.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab();
});
afterAll(() => lab.close());

const injected: Array<[string, string]> = [
  ['P-KS-IDSP', 'evil.example'],
  ['p-ks-auth', 'mechanism=app-hmac'],
  ['P-KS-Keys', `ekc="${toB64u(randomBytes(60))}", eksp="${toB64u(randomBytes(60))}", rand="${toB64u(randomBytes(16))}"`],
  ['P-KS-Mech', 'tls'],
  ['P-Ks-Ipc', '10.0.0.1'],
];

describe('private headers', () => {
  it('are stripped from a KS1 registration before the SBC adds its own', async () => {
    const idc = 'inject@lab.example';
    const kc = lab.provision(idc);
    const t = await rawTerminal(lab, idc, kc);
    try {
      const r1 = await t.register([['Authorization', `KS1 username="${idc}", n1="${toB64u(randomBytes(16))}", ts="${Math.floor(Date.now() / 1000)}"`], ...injected]);
      expect(r1.status).toBe(401);
      const s2 = lab.core.seen.filter((r) => r.get('To')?.includes(idc));
      expect(s2).toHaveLength(1);
      expect(s2[0]!.getAll('P-KS-IDSP')).toEqual(['sbc1.lab.example']);
      for (const h of ['P-KS-Auth', 'P-KS-Keys', 'P-KS-Mech', 'P-KS-IPC']) expect(s2[0]!.get(h)).toBeUndefined();
      // the terminal's n1/ts stay at the SBC; the core gets the KS1 marker only
      expect(s2[0]!.getAll('Authorization')).toEqual(['KS1 username="inject@lab.example", realm="sbc1.lab.example"']);
      // and nothing private comes back down
      expect(r1.headers.some((h) => h.key.startsWith('p-ks-'))).toBe(false);
    } finally {
      await t.close();
    }
  });

  it('a Digest REGISTER is forwarded with only the SBC\'s P-KS-IDSP, and the core\'s answer is passed back', async () => {
    const idc = 'digest@lab.example';
    const t = await rawTerminal(lab, idc, randomBytes(32));
    try {
      const res = await t.register([['Authorization', 'Digest username="digest", realm="lab.example", nonce="x", uri="sip:lab.example", response="00"'], ...injected]);
      const seen = lab.core.seen.filter((r) => r.get('To')?.includes(idc));
      expect(seen).toHaveLength(1);
      expect(seen[0]!.get('Authorization')).toMatch(/^Digest /);
      expect(seen[0]!.getAll('P-KS-IDSP')).toEqual(['sbc1.lab.example']);
      expect(seen[0]!.get('P-KS-Auth')).toBeUndefined();
      expect(seen[0]!.get('P-KS-IPC')).toBe('127.0.0.1');
      expect(seen[0]!.vias()).toHaveLength(2);
      expect(Number(seen[0]!.get('Max-Forwards'))).toBe(69);
      expect(seen[0]!.vias()[1]!.params.rport).toBe(String(t.uac.transport.port));
      expect(seen[0]!.vias()[1]!.params.received).toBe('127.0.0.1');
      expect(res.status).toBe(401); // the fake core does not know this IDc: challenged like any other
      expect(res.vias()).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it('P-Asserted-Identity and P-KS-Auth from a terminal are replaced by what the SBC proved (app-hmac), or dropped (no registration)', async () => {
    const idc = 'asserted@lab.example';
    const t = new SipTerminal(lab.terminal(idc, lab.provision(idc), { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: lab.sbc.ports.udp! } }));
    const forged: Array<[string, string]> = [['P-Asserted-Identity', '<sip:boss@lab.example>'], ['P-KS-Auth', 'mechanism=tls'], ['P-Asserted-Identity', '<tel:+15551234>']];
    try {
      await t.registerKs1();
      await t.applyMechanism();
      const callId = newCallId();
      const res = await t.secured!.send({
        method: 'MESSAGE', requestUri: 'sip:bob@lab.example', aor: idc, callId, cseq: 1, fromTag: newTag(), to: '<sip:bob@lab.example>',
        headers: [...forged, ['Content-Type', 'text/plain']], body: Buffer.from('hi'), signer: t.signer!,
      });
      expect(res.status).toBe(200);
      const seen = lab.core.seen.find((r) => r.callId() === callId)!;
      expect(seen.getAll('P-Asserted-Identity')).toEqual([`<sip:${idc}>`]);
      expect(seen.getAll('P-KS-Auth')).toEqual(['mechanism=app-hmac']);
    } finally {
      await t.close();
    }
    const anon = await rawTerminal(lab, 'anonymous@lab.example', randomBytes(32));
    try {
      const res = await anon.request('MESSAGE', 'sip:bob@lab.example', forged);
      expect(res.status).toBe(200); // the fake core answers anything; the real one challenges (test/sbc/call-auth.test.ts)
      const seen = lab.core.seen.filter((r) => r.get('From')?.includes('anonymous@'));
      expect(seen).toHaveLength(1);
      expect(seen[0]!.get('P-Asserted-Identity')).toBeUndefined();
      expect(seen[0]!.get('P-KS-Auth')).toBeUndefined();
      expect(lab.sbc.stats().sip.privateHeadersStripped).toBeGreaterThanOrEqual(6);
    } finally {
      await anon.close();
    }
  });

  it('Max-Forwards 0 gets 483 and is not forwarded', async () => {
    const t = await rawTerminal(lab, 'hops@lab.example', randomBytes(32));
    try {
      const res = await t.request('OPTIONS', 'sip:bob@lab.example', [['Max-Forwards', '0']]);
      expect(res.status).toBe(483);
    } finally {
      await t.close();
    }
  });
});
