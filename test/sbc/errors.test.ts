/** Every error answer of docs/design.md's SIP encoding, as a terminal sees it. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toB64u } from '../../src/crypto/ks1.js';
import { decodeS6 } from '../../src/adapters/sip/terminal-ks1.js';
import { startLab, type Lab } from './setup.js';
import { rawTerminal } from './raw.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab();
});
afterAll(() => lab.close());

const now = (): number => Math.floor(Date.now() / 1000);
const n = (): string => toB64u(randomBytes(16));

describe('400 names the missing or malformed KS1 parameter', () => {
  const cases: Array<[string, string, string]> = [
    ['s1 without n1', `KS1 username="a400@lab.example", ts="${now()}"`, 'n1'],
    ['s1 with a short n1', `KS1 username="a400@lab.example", n1="AAAA", ts="${now()}"`, 'n1'],
    ['s1 with ts not a number', `KS1 username="a400@lab.example", n1="${n()}", ts="soon"`, 'ts'],
    ['s1 without username', `KS1 n1="${n()}", ts="${now()}"`, 'username'],
    ['s7 without response', `KS1 username="a400@lab.example", nonce="${n()}", n1="${n()}", n2="${n()}", ts="${now()}"`, 'response'],
    ['s7 with a bad n2', `KS1 username="a400@lab.example", nonce="${n()}", response="${n()}", n1="${n()}", n2="!", ts="${now()}"`, 'n2'],
  ];
  it.each(cases)('%s', async (_name, auth, param) => {
    const t = await rawTerminal(lab, 'a400@lab.example', randomBytes(32));
    try {
      const res = await t.register([['Authorization', auth], ['Security-Client', 'app-hmac;q=0.5']]);
      expect(res.status).toBe(400);
      expect(res.reason).toContain(param);
      expect(res.get('Warning')).toContain(param);
    } finally {
      await t.close();
    }
  });

  it('s7 without Security-Client', async () => {
    const kc = lab.provision('nosc@lab.example');
    const t = await rawTerminal(lab, 'nosc@lab.example', kc);
    try {
      const { s7 } = await t.challenge();
      const res = await t.register(t.s7Headers(s7).filter(([h]) => h !== 'Security-Client'));
      expect(res.status).toBe(400);
      expect(res.reason).toContain('Security-Client');
    } finally {
      await t.close();
    }
  });

  it('an Authorization header that does not parse', async () => {
    const t = await rawTerminal(lab, 'a400@lab.example', randomBytes(32));
    try {
      const res = await t.register([['Authorization', 'KS1 username="x", n1=']]);
      expect(res.status).toBe(400);
      expect(res.reason).toContain('Authorization');
    } finally {
      await t.close();
    }
  });
});

describe('401 with a fresh challenge, counted', () => {
  async function expectRechallenge(idc: string, mutate: (h: Array<[string, string]>) => Array<[string, string]>, before?: (t: Awaited<ReturnType<typeof rawTerminal>>, h: Array<[string, string]>) => Promise<void>) {
    const kc = lab.provision(idc);
    const t = await rawTerminal(lab, idc, kc);
    try {
      const { s7 } = await t.challenge();
      const headers = t.s7Headers(s7);
      if (before) await before(t, headers);
      const failuresBefore = lab.sbc.stats().failures.totals;
      const res = await t.register(mutate(headers));
      expect(res.status).toBe(401);
      const s6 = decodeS6(res, idc);
      expect(s6).toBeDefined();
      // the new challenge echoes the N1' of the refused s7, so the terminal can go on
      expect(s6!.n1.equals(s7.n1)).toBe(true);
      expect(t.flow.onChallenge(s6!).ok).toBe(true);
      const after = lab.sbc.stats().failures.totals;
      const sum = (x: Record<string, number | undefined>) => Object.values(x).reduce((a: number, b) => a + (b ?? 0), 0);
      expect(sum(after)).toBeGreaterThan(sum(failuresBefore));
      expect(lab.sbc.stats().failures.top.some((s) => s.source.startsWith('127.0.0.1:'))).toBe(true);
    } finally {
      await t.close();
    }
  }

  it('a replayed s7 (its n2 is spent)', async () => {
    await expectRechallenge('replay@lab.example', (h) => h, async (t, h) => {
      expect((await t.register(h)).status).toBe(200);
    });
  });

  it('an s7 whose ts is outside the window', async () => {
    await expectRechallenge('stale@lab.example', (h) => h.map(([k, v]) => [k, k === 'Authorization' ? v.replace(/ts="\d+"/, `ts="${now() - 120}"`) : v]));
  });

  it('an s7 whose n2 was never issued', async () => {
    await expectRechallenge('unknown-n2@lab.example', (h) => h.map(([k, v]) => [k, k === 'Authorization' ? v.replace(/n2="[^"]+"/, `n2="${n()}"`) : v]));
  });

  it('an s7 with the wrong response (wrong key)', async () => {
    const idc = 'wrongkey@lab.example';
    lab.provision(idc);
    const t = await rawTerminal(lab, idc, randomBytes(32)); // not the provisioned key
    try {
      const { s7 } = await t.challenge();
      const before = lab.sbc.stats().failures.totals['wrong-response'] ?? 0;
      const res = await t.register(t.s7Headers(s7));
      expect(res.status).toBe(401);
      expect(decodeS6(res, idc)?.n1.equals(s7.n1)).toBe(true);
      expect(lab.sbc.stats().failures.totals['wrong-response']).toBe(before + 1);
      expect(lab.core.auc.failedReports.some((r) => r.idc === idc)).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('403 and 494', () => {
  it('an unknown IDc and a locked one are challenged like any other: 401 with a KS1 challenge, no Retry-After, no Warning', async () => {
    const idc = 'locked@lab.example';
    lab.provision(idc);
    lab.core.auc.failures.set(idc, 99);
    for (const who of ['nobody@lab.example', idc]) {
      const t = await rawTerminal(lab, who, randomBytes(32));
      try {
        const res = await t.register([['Authorization', `KS1 username="${who}", n1="${n()}", ts="${now()}"`]]);
        expect(res.status).toBe(401);
        expect(res.auth('WWW-Authenticate').map((a) => a.scheme)).toEqual(['KS1']);
        expect(res.get('Retry-After')).toBeUndefined();
        expect(res.get('Warning')).toBeUndefined();
      } finally {
        await t.close();
      }
    }
  });

  it('a username other than the To URI gets 403', async () => {
    const t = await rawTerminal(lab, 'to@lab.example', randomBytes(32));
    try {
      const res = await t.register([['Authorization', `KS1 username="other@lab.example", n1="${n()}", ts="${now()}"`]]);
      expect(res.status).toBe(403);
    } finally {
      await t.close();
    }
  });

  it('a realm naming another SBC gets 403', async () => {
    const t = await rawTerminal(lab, 'realm@lab.example', randomBytes(32));
    try {
      const res = await t.register([['Authorization', `KS1 username="realm@lab.example", realm="sbc9.lab.example", n1="${n()}", ts="${now()}"`]]);
      expect(res.status).toBe(403);
    } finally {
      await t.close();
    }
  });

  it('nothing in common gets 494 Security Agreement Required with the offer', async () => {
    const idc = 'ipsec@lab.example';
    const kc = lab.provision(idc);
    const t2 = await rawTerminal(lab, idc, kc, { mechs: 'ipsec-3gpp;q=0.9, digest;q=0.1' });
    try {
      const { res: r6, s7 } = await t2.challenge();
      // s6 lists what this SBC offers
      expect(r6.get('Security-Server')).toBe('tls-psk;q=0.5, app-hmac;q=0.3, tls;q=0.2');
      const res = await t2.register(t2.s7Headers(s7));
      expect(res.status).toBe(494);
      expect(res.reason).toBe('Security Agreement Required');
      expect(res.get('Security-Server')).toBe('tls-psk;q=0.5, app-hmac;q=0.3, tls;q=0.2');
    } finally {
      await t2.close();
    }
  });

  it('a replayed s1 gets 400', async () => {
    const t = await rawTerminal(lab, 'r1@lab.example', randomBytes(32));
    lab.provision('r1@lab.example');
    try {
      const auth = `KS1 username="r1@lab.example", n1="${n()}", ts="${now()}"`;
      expect((await t.register([['Authorization', auth]])).status).toBe(401);
      const res = await t.register([['Authorization', auth]]);
      expect(res.status).toBe(400);
      expect(res.reason).toContain('n1');
    } finally {
      await t.close();
    }
  });
});
