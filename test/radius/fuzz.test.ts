import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredAttributes, vectorAcceptAttributes, vectorRequestAttributes, digestAcceptAttributes } from '../../src/adapters/radius/auc-attributes.js';
import { decodePacket, encodePacket, revealVendor } from '../../src/radius/codec.js';
import { KEYSWITCH_VENDOR_ID, KsAttr, RadiusCode } from '../../src/radius/dictionary.js';
import { MAX_HIDDEN_VALUE, SaltSource, hideValue, unhideValue } from '../../src/radius/hiding.js';
import { walkPacket } from '../../src/radius/packet.js';
import { verifyAccessRequest, verifyAccountingRequest, verifyResponse } from '../../src/radius/sign.js';
import { SECRET, startPair } from './setup.js';

const secret = Buffer.from(SECRET);
const reqAuth = randomBytes(16);

function validPackets(): Buffer[] {
  const v = { idc: 'a', idsp: 'b', rand: randomBytes(16), authenticator: randomBytes(16), ekc: randomBytes(60), eksp: randomBytes(60), expiresAt: Date.now() };
  return [
    encodePacket({ code: RadiusCode.AccessRequest, identifier: 1, secret, requestAuthenticator: reqAuth, attributes: vectorRequestAttributes({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' }) }),
    encodePacket({ code: RadiusCode.AccessAccept, identifier: 1, secret, requestAuthenticator: reqAuth, attributes: vectorAcceptAttributes(v) }),
    encodePacket({ code: RadiusCode.AccessAccept, identifier: 2, secret, requestAuthenticator: reqAuth, attributes: digestAcceptAttributes('0123456789abcdef0123456789abcdef') }),
    encodePacket({
      code: RadiusCode.AccountingRequest,
      identifier: 3,
      secret,
      attributes: registeredAttributes({ idc: 'a', idsp: 'b', ipc: '192.0.2.1', protocol: 'sip', contact: 'sip:a@192.0.2.1', mechanism: 'tls', expiresAt: Date.now(), rand: v.rand }),
    }),
  ];
}

/** Byte flips, truncation, extension and length-field edits of a valid packet. */
const mutated = (seeds: Buffer[]) =>
  fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.uint8Array({ maxLength: 40 }),
      fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
    )
    .map(([i, flips, cut, tail, len]) => {
      let b = Buffer.from(seeds[i]);
      for (const [pos, val] of flips) b[pos % b.length] = val;
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      b = Buffer.concat([b, Buffer.from(tail)]);
      if (len !== undefined && b.length >= 4) b.writeUInt16BE(len, 2);
      return b;
    });

/** Structurally plausible packets: a valid header, then random attributes including our vendor's. */
const plausible = fc
  .tuple(
    fc.constantFrom(1, 2, 3, 4, 5, 11, 12),
    fc.array(
      fc.oneof(
        fc.tuple(fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 40 })).map(([t, v]) => Buffer.concat([Buffer.from([t, v.length + 2]), v])),
        fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ maxLength: 40 })).map(([t, v]) => {
          const h = Buffer.alloc(8);
          h[0] = 26;
          h[1] = 8 + v.length;
          h.writeUInt32BE(KEYSWITCH_VENDOR_ID, 2);
          h[6] = t;
          h[7] = 2 + v.length;
          return Buffer.concat([h, v]);
        }),
      ),
      { maxLength: 12 },
    ),
  )
  .map(([code, attrs]) => {
    const body = Buffer.concat(attrs);
    const head = Buffer.alloc(20);
    head[0] = code;
    head.writeUInt16BE(20 + body.length, 2);
    return Buffer.concat([head, body]);
  });

function exercise(b: Buffer): void {
  const d = decodePacket(b);
  const w = walkPacket(b);
  if (w.ok) {
    verifyAccessRequest(w.packet, secret);
    verifyAccountingRequest(w.packet, secret);
    verifyResponse(w.packet, secret, reqAuth);
  }
  if (d.ok) {
    revealVendor(d.packet, KsAttr.AuthenticatorC, secret, reqAuth);
    revealVendor(d.packet, KsAttr.DigestHa1, secret, reqAuth);
  }
}

describe('RADIUS decoder under fuzzing', () => {
  const seeds = validPackets();

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (a) => exercise(Buffer.from(a))), { numRuns: 3000 });
  });

  it('never throws on mutated valid packets or plausible random attribute lists', () => {
    fc.assert(fc.property(mutated(seeds), (b) => exercise(b)), { numRuns: 3000 });
    fc.assert(fc.property(plausible, (b) => exercise(b)), { numRuns: 3000 });
  });

  it('unhiding never throws and round-trips what was hidden', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (a) => void unhideValue(Buffer.from(a), secret, reqAuth)), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_HIDDEN_VALUE }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (a, s) => {
        const salt = new SaltSource().next();
        const hidden = hideValue(Buffer.from(a), Buffer.from(s), reqAuth, salt);
        expect(unhideValue(hidden, Buffer.from(s), reqAuth)?.equals(Buffer.from(a))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('a packet with a bad signature is never accepted', () => {
    fc.assert(
      fc.property(mutated(seeds.slice(0, 1)), (b) => {
        const w = walkPacket(b);
        if (!w.ok || w.packet.bytes.equals(seeds[0])) return;
        expect(verifyAccessRequest(w.packet, secret)).not.toBe('ok');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RADIUS AuC server under fuzzing', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  beforeAll(async () => {
    pair = await startPair();
  });
  afterAll(async () => pair.close());

  it('survives random and mutated datagrams on both ports and still answers', async () => {
    const seeds = validPackets();
    const datagrams = [
      ...fc.sample(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), 700),
      ...fc.sample(mutated(seeds), 700),
      ...fc.sample(plausible, 700),
    ];
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    for (const [i, d] of datagrams.entries()) {
      sock.send(d, i % 2 ? pair.server.authPort : pair.server.acctPort, '127.0.0.1');
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 200));
    await new Promise<void>((r) => sock.close(() => r()));
    const s = pair.server.stats();
    expect(s.auth.received + s.acct.received).toBeGreaterThan(1000);
    expect(s.auth.handlerErrors + s.acct.handlerErrors).toBe(0);
    expect(s.droppedMalformed).toBeGreaterThan(0);
    const r = await pair.client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    expect(r.ok).toBe(true);
  });
});
