import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AucUnavailableError } from '../../src/contracts/auc.js';
import { vectorRequestAttributes, registeredAttributes } from '../../src/adapters/radius/auc-attributes.js';
import { decodePacket, encodePacket } from '../../src/radius/codec.js';
import { Attr, RadiusCode } from '../../src/radius/dictionary.js';
import { walkPacket } from '../../src/radius/packet.js';
import { verifyResponse } from '../../src/radius/sign.js';
import { startRadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import { RadiusAucClient } from '../../src/adapters/radius/auc-client.js';
import { FakeAuc } from './fake-auc.js';
import { SECRET, sendRaw, startPair } from './setup.js';

const secret = Buffer.from(SECRET);
const request = (over: Partial<Parameters<typeof encodePacket>[0]> = {}): { packet: Buffer; auth: Buffer } => {
  const auth = randomBytes(16);
  const packet = encodePacket({
    code: RadiusCode.AccessRequest,
    identifier: 42,
    secret,
    requestAuthenticator: auth,
    attributes: vectorRequestAttributes({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' }),
    ...over,
  });
  return { packet, auth };
};

describe('RADIUS AuC server: what it refuses', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  beforeAll(async () => {
    pair = await startPair();
  });
  afterAll(async () => pair.close());

  it('answers a well-signed Access-Request, Message-Authenticator first and valid', async () => {
    const { packet, auth } = request();
    const [answer] = await sendRaw(pair.server.authPort, packet);
    expect(answer).toBeDefined();
    const w = walkPacket(answer);
    expect(w.ok).toBe(true);
    if (!w.ok) return;
    expect(w.packet.code).toBe(RadiusCode.AccessAccept);
    expect(w.packet.attributes[0].type).toBe(Attr.MessageAuthenticator);
    expect(verifyResponse(w.packet, secret, auth)).toBe('ok');
    expect(verifyResponse(w.packet, Buffer.from('other'), auth)).toBe('bad-authenticator');
  });

  it('drops an Access-Request without Message-Authenticator and counts it', async () => {
    const before = pair.server.stats().droppedMissingMessageAuthenticator;
    const { packet } = request({ messageAuthenticator: false });
    expect(await sendRaw(pair.server.authPort, packet)).toEqual([]);
    expect(pair.server.stats().droppedMissingMessageAuthenticator).toBe(before + 1);
  });

  it('drops an Access-Request whose Message-Authenticator is wrong, or whose attributes were altered', async () => {
    const before = pair.server.stats().droppedBadMessageAuthenticator;
    const { packet } = request();
    const forged = Buffer.from(packet);
    forged[22] ^= 1; // first byte of the Message-Authenticator value
    expect(await sendRaw(pair.server.authPort, forged)).toEqual([]);
    const altered = Buffer.from(packet);
    altered[altered.length - 1] ^= 0x20; // a letter of NAS-Identifier
    expect(await sendRaw(pair.server.authPort, altered)).toEqual([]);
    expect(pair.server.stats().droppedBadMessageAuthenticator).toBe(before + 2);
  });

  it('drops requests signed with another shared secret (auth and accounting) and counts them', async () => {
    const s0 = pair.server.stats();
    const { packet } = request({ secret: Buffer.from('not-the-secret') });
    expect(await sendRaw(pair.server.authPort, packet)).toEqual([]);
    const acct = encodePacket({
      code: RadiusCode.AccountingRequest,
      identifier: 1,
      secret: Buffer.from('not-the-secret'),
      attributes: registeredAttributes({ idc: 'a', idsp: 'b', ipc: '192.0.2.1', protocol: 'sip', contact: 'sip:a@192.0.2.1', mechanism: '', expiresAt: Date.now() }),
    });
    expect(await sendRaw(pair.server.acctPort, acct)).toEqual([]);
    const s1 = pair.server.stats();
    expect(s1.droppedBadMessageAuthenticator).toBe(s0.droppedBadMessageAuthenticator + 1);
    expect(s1.droppedBadAuthenticator).toBe(s0.droppedBadAuthenticator + 1);
    expect(pair.auc.registrations).toHaveLength(0);

    const wrong = new RadiusAucClient({ secret: 'not-the-secret', servers: [{ host: '127.0.0.1', authPort: pair.server.authPort, acctPort: pair.server.acctPort }], timeoutMs: 100, retries: 0, totalTimeoutMs: 300 });
    await expect(wrong.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).rejects.toBeInstanceOf(AucUnavailableError);
    await wrong.close();
  });

  it('drops an Access-Request sent to the accounting port and vice versa', async () => {
    const before = pair.server.stats().droppedUnexpectedCode;
    expect(await sendRaw(pair.server.acctPort, request().packet)).toEqual([]);
    const acct = encodePacket({ code: RadiusCode.AccountingRequest, identifier: 3, secret, attributes: [{ name: 'Acct-Status-Type', value: 'Start' }] });
    expect(await sendRaw(pair.server.authPort, acct)).toEqual([]);
    expect(pair.server.stats().droppedUnexpectedCode).toBe(before + 2);
  });

  it('hides Authenticator_c and HA1: the plaintext is not in the answer bytes, yet the client reveals it', async () => {
    const { packet, auth } = request({ identifier: 77 });
    const [answer] = await sendRaw(pair.server.authPort, packet);
    const v = pair.auc.vectors.at(-1)!;
    expect(answer.includes(v.rand)).toBe(true); // not secret, visible
    expect(answer.includes(v.authenticator)).toBe(false);
    expect(answer.includes(v.authenticator.subarray(0, 8))).toBe(false);
    const d = decodePacket(answer);
    expect(d.ok).toBe(true);

    const digestReq = encodePacket({
      code: RadiusCode.AccessRequest,
      identifier: 78,
      secret,
      requestAuthenticator: auth,
      attributes: [
        { name: 'User-Name', value: '1000@lab.example' },
        { name: 'NAS-Identifier', value: 'softswitch' },
        { name: 'Keyswitch-Digest-Username', value: '1000', vendor: true },
        { name: 'Keyswitch-Digest-Realm', value: 'lab.example', vendor: true },
        { name: 'Keyswitch-Digest-Algorithm', value: 'MD5', vendor: true },
      ],
    });
    const [digestAnswer] = await sendRaw(pair.server.authPort, digestReq);
    expect(digestAnswer[0]).toBe(RadiusCode.AccessAccept);
    expect(digestAnswer.includes(Buffer.from('a1b2c3d4'))).toBe(false);
    const viaClient = await pair.client.digest({ idc: '1000@lab.example', username: '1000', realm: 'lab.example', algorithm: 'MD5' });
    expect(viaClient).toEqual({ ok: true, ha1: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' });
  });

  it('answers a retransmission with the same bytes without asking the AuC again', async () => {
    const { packet } = request({ identifier: 99 });
    const calls = pair.auc.calls.length;
    const before = pair.server.stats().auth.duplicatesResent;
    const [a] = await sendRaw(pair.server.authPort, packet, 150);
    // sendRaw binds a new source port each time, so resend from one socket:
    const sock = createSocket('udp4');
    const got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 3; i++) {
      sock.send(packet, pair.server.authPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 80));
    }
    await new Promise<void>((r) => sock.close(() => r()));
    expect(a).toBeDefined();
    expect(got).toHaveLength(3);
    expect(got[1].equals(got[0])).toBe(true);
    expect(got[2].equals(got[0])).toBe(true);
    // one AuC call for sendRaw's copy, one for the socket's first copy
    expect(pair.auc.calls.length).toBe(calls + 2);
    expect(pair.server.stats().auth.duplicatesResent).toBe(before + 2);
  });

  it('does not answer when the AuC fails, so that the client can try another', async () => {
    pair.auc.breakNext = true;
    const before = pair.server.stats().serviceErrors;
    expect(await sendRaw(pair.server.authPort, request().packet)).toEqual([]);
    expect(pair.server.stats().serviceErrors).toBe(before + 1);
  });
});

describe('RADIUS AuC server: source filter', () => {
  it('drops datagrams from sources outside the allowed CIDRs', async () => {
    const auc = new FakeAuc();
    const server = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service: auc, clients: ['10.0.0.0/8', '2001:db8::/32'] });
    try {
      expect(await sendRaw(server.authPort, request().packet)).toEqual([]);
      expect(server.stats().auth.droppedUnknownClient).toBe(1);
      expect(auc.calls).toHaveLength(0);
    } finally {
      await server.close();
    }
    const open = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service: auc, clients: ['127.0.0.0/8'] });
    try {
      expect(await sendRaw(open.authPort, request().packet)).toHaveLength(1);
    } finally {
      await open.close();
    }
  });
});

describe('RADIUS AuC client: what it refuses', () => {
  it('ignores answers without a Message-Authenticator or with a bad one, and gives up', async () => {
    for (const mode of ['none', 'bad'] as const) {
      const sock = createSocket('udp4');
      sock.on('message', (m, from) => {
        const w = walkPacket(m);
        if (!w.ok) return;
        const ans = encodePacket({
          code: RadiusCode.AccessReject,
          identifier: w.packet.identifier,
          secret,
          requestAuthenticator: w.packet.authenticator,
          attributes: [{ name: 'Reply-Message', value: 'x' }],
          messageAuthenticator: mode !== 'none',
        });
        if (mode === 'bad') {
          ans[22] ^= 0xff;
          // keep the Response Authenticator right, so only the Message-Authenticator is wrong
          w.packet.authenticator.copy(ans, 4);
          createHash('md5').update(ans).update(secret).digest().copy(ans, 4);
        }
        sock.send(ans, from.port, from.address);
      });
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const port = sock.address().port;
      const client = new RadiusAucClient({ secret: SECRET, servers: [{ host: '127.0.0.1', authPort: port, acctPort: port }], timeoutMs: 100, retries: 1, totalTimeoutMs: 400 });
      await expect(client.vector({ idc: 'a', idsp: 'b' })).rejects.toBeInstanceOf(AucUnavailableError);
      expect(client.stats().droppedInvalidAnswer).toBeGreaterThanOrEqual(1);
      await client.close();
      await new Promise<void>((r) => sock.close(() => r()));
    }
  });
});
