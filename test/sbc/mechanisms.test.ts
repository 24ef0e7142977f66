/** After registration: the SBC enforces the chosen mechanism, and the terminal checks the SBC. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppHmacSigner } from '../../src/crypto/app-hmac.js';
import { signSipMessage } from '../../src/adapters/sip/sbc-app-hmac.js';
import { createRequest, newBranch, serialize, type SipResponse } from '../../src/sip/index.js';
import { tcpExchange } from '../helpers/sip-tcp.js';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
import { SipUac, newCallId, newTag } from '../../src/terminal/sip-uac.js';
import { startLab, FAST, type Lab } from './setup.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab();
});
afterAll(() => lab.close());

async function registered(idc: string, mechs: string, transport: 'udp' | 'tcp' = 'udp'): Promise<SipTerminal> {
  const kc = lab.provision(idc);
  const t = new SipTerminal(lab.terminal(idc, kc, { mechs, transport, sbc: { host: '127.0.0.1', port: transport === 'udp' ? lab.sbc.ports.udp! : lab.sbc.ports.tcp! } }));
  await t.registerKs1();
  await t.applyMechanism();
  return t;
}

/** Sends raw bytes over a fresh TCP connection to the SBC and returns the first answer. */
const sbcExchange = (bytes: Buffer): Promise<SipResponse> => tcpExchange(lab.sbc.ports.tcp!, bytes);

function options(idc: string, uri = 'sip:127.0.0.1'): ReturnType<typeof createRequest> {
  return createRequest('OPTIONS', uri, [
    ['Via', `SIP/2.0/TCP 127.0.0.1:5060;branch=${newBranch()}`],
    ['Max-Forwards', '70'],
    ['From', `<sip:${idc}>;tag=${newTag()}`],
    ['To', `<sip:${idc}>`],
    ['Call-ID', newCallId()],
    ['CSeq', '1 OPTIONS'],
  ]);
}

describe('app-hmac', () => {
  it('accepts a protected refresh and OPTIONS, and the terminal verifies the signed answers', async () => {
    const t = await registered('hmac-ok@lab.example', 'app-hmac;q=0.5');
    try {
      const r = await t.refresh();
      expect(r.status).toBe(200);
      expect(r.get('KS-HMAC')).toMatch(/^seq=\d+, mac="[\w-]{22}"$/);
      expect((await t.options()).status).toBe(200);
      expect(t.verifier!.highest).toBe(2);
    } finally {
      await t.close();
    }
  });

  it('refuses a missing tag with 403 and does not forward', async () => {
    const idc = 'hmac-missing@lab.example';
    const t = await registered(idc, 'app-hmac;q=0.5');
    try {
      const res = await t.uac!.send({ method: 'OPTIONS', requestUri: 'sip:bob@lab.example', aor: idc, callId: 'missing-1', cseq: 1, fromTag: newTag() });
      expect(res.status).toBe(403);
      expect(res.get('Warning')).toContain('KS-HMAC missing');
      expect(lab.core.seen.some((r) => r.get('Call-ID') === 'missing-1')).toBe(false);
      // an unprotected REGISTER refresh is refused too
      const reg = await t.uac!.send({ method: 'REGISTER', requestUri: 'sip:lab.example', aor: idc, callId: 'missing-2', cseq: 9, fromTag: newTag(), headers: [['Contact', t.uac!.contact(idc)]] });
      expect(reg.status).toBe(403);
      expect(lab.core.seen.some((r) => r.get('Call-ID') === 'missing-2')).toBe(false);
    } finally {
      await t.close();
    }
  });

  it('refuses a wrong tag', async () => {
    const idc = 'hmac-wrong@lab.example';
    const t = await registered(idc, 'app-hmac;q=0.5');
    try {
      const forger = new AppHmacSigner(randomBytes(32), 'uplink');
      const res = await t.uac!.send({ method: 'OPTIONS', requestUri: 'sip:bob@lab.example', aor: idc, callId: 'wrong-1', cseq: 1, fromTag: newTag(), signer: forger });
      expect(res.status).toBe(403);
      expect(res.get('Warning')).toContain('KS-HMAC bad-tag');
      expect(lab.core.seen.some((r) => r.get('Call-ID') === 'wrong-1')).toBe(false);
      // a body changed after signing fails as well
      const req = options(idc);
      signSipMessage(req, t.signer!);
      const bytes = serialize(req).toString('latin1').replace('CSeq: 1 OPTIONS', 'CSeq: 2 OPTIONS');
      expect((await sbcExchange(Buffer.from(bytes, 'latin1'))).status).toBe(403);
      // the genuine terminal still gets through afterwards
      expect((await t.options()).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('refuses a replayed message', async () => {
    const idc = 'hmac-replay@lab.example';
    const t = await registered(idc, 'app-hmac;q=0.5');
    try {
      const req = options(idc);
      signSipMessage(req, t.signer!);
      const bytes = serialize(req);
      expect((await sbcExchange(bytes)).status).toBe(200);
      const again = await sbcExchange(bytes);
      expect(again.status).toBe(403);
      expect(again.get('Warning')).toContain('KS-HMAC replayed');
      expect(lab.sbc.stats().failures.totals['app-hmac']).toBeGreaterThanOrEqual(1);
    } finally {
      await t.close();
    }
  });
});

describe('tls-psk', () => {
  it('works over the PSK connection only', async () => {
    const idc = 'psk@lab.example';
    const t = await registered(idc, 'tls-psk;q=0.5');
    try {
      expect(t.secured!.transport.protocol).toBe('tls');
      expect((await t.refresh()).status).toBe(200);
      expect((await t.options()).status).toBe(200);
      // the same terminal over plain UDP is refused
      const res = await t.uac!.send({ method: 'OPTIONS', requestUri: 'sip:127.0.0.1', aor: idc, callId: newCallId(), cseq: 1, fromTag: newTag() });
      expect(res.status).toBe(403);
      expect(res.get('Warning')).toContain('tls-psk');
    } finally {
      await t.close();
    }
  });

  it('a wrong PSK or an unregistered identity fails the handshake', async () => {
    const idc = 'psk2@lab.example';
    const t = await registered(idc, 'tls-psk;q=0.5');
    const before = lab.sbc.stats().tlsHandshakeFailures;
    const tries = [
      { identity: idc, key: randomBytes(32) },
      { identity: 'stranger@lab.example', key: t.session!.sessionKey },
    ];
    try {
      for (const psk of tries) {
        const uac = await SipUac.open({ transport: 'tls-psk', server: { host: '127.0.0.1', port: lab.sbc.ports.tlsPsk! }, psk, timers: FAST });
        try {
          const res = await uac.send({ method: 'OPTIONS', requestUri: 'sip:127.0.0.1', aor: psk.identity, callId: newCallId(), cseq: 1, fromTag: newTag() });
          expect(res.status).toBe(503);
          expect(res.localReason).toBe('transport');
        } finally {
          await uac.close();
        }
      }
      expect(lab.sbc.stats().tlsHandshakeFailures).toBeGreaterThanOrEqual(before + 2);
    } finally {
      await t.close();
    }
  });

  it('a PSK connection cannot speak for another terminal', async () => {
    const a = await registered('psk-a@lab.example', 'tls-psk;q=0.5');
    try {
      const res = await a.secured!.send({ method: 'OPTIONS', requestUri: 'sip:127.0.0.1', aor: 'psk-b@lab.example', callId: newCallId(), cseq: 1, fromTag: newTag() });
      expect(res.status).toBe(403);
    } finally {
      await a.close();
    }
  });
});

describe('tls', () => {
  it('binds the terminal to the TLS connection its KS1 registration ran on', async () => {
    const idc = 'tls@lab.example';
    const t = await registered(idc, 'tls;q=0.5', 'tcp');
    try {
      expect(t.secured!.transport.protocol).toBe('tls');
      expect((await t.options()).status).toBe(200);
      const res = await t.uac!.send({ method: 'OPTIONS', requestUri: 'sip:127.0.0.1', aor: idc, callId: newCallId(), cseq: 1, fromTag: newTag() });
      expect(res.status).toBe(403);
    } finally {
      await t.close();
    }
  });

  it('a terminal that does not trust the certificate cannot connect', async () => {
    const uac = await SipUac.open({ transport: 'tls', server: { host: '127.0.0.1', port: lab.sbc.ports.tls! }, tls: {}, timers: FAST });
    try {
      const res = await uac.send({ method: 'OPTIONS', requestUri: 'sip:127.0.0.1', aor: 'x@lab.example', callId: newCallId(), cseq: 1, fromTag: newTag() });
      expect(res.status).toBe(503);
    } finally {
      await uac.close();
    }
  });
});
