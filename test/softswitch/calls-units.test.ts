/** The call router's parts: location cache, where a binding is reached, contact keys; and hostile bytes at the router. */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LocationCache } from '../../src/softswitch/location-cache.js';
import { parseSource, targetOf } from '../../src/softswitch/calls.js';
import { effectiveStatus, failureRank } from '../../src/sip/proxy/relay.js';
import { contactKey, FlowIndex } from '../../src/softswitch/calls-flows.js';
import type { SipBinding } from '../../src/store/bindings.js';
import { createRequest, randomToken, serialize } from '../../src/sip/index.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, world } from './harness.js';
import { Phone } from './calls-phone.js';

function binding(o: Partial<SipBinding> = {}): SipBinding {
  return { aor: 'a@x', contact: 'sip:a@192.0.2.1:5060', q: 1, expiresAt: 10_000, callId: 'c', cseq: 1, source: 'udp:192.0.2.1:5060', idsp: '', mechanism: '', instance: '', createdAt: 0, updatedAt: 0, ...o };
}

describe('LocationCache', () => {
  it('reads the store once per TTL, rereads after invalidate, and hides expired bindings', async () => {
    let t = 1000;
    let reads = 0;
    let rows = [binding()];
    const c = new LocationCache({ current: async () => (reads++, rows) }, { ttlMs: 2000, now: () => t });
    expect(await c.lookup('a@x')).toHaveLength(1);
    rows = [];
    expect(await c.lookup('a@x')).toHaveLength(1); // another instance's change: not seen within the TTL
    expect(reads).toBe(1);
    t += 2000;
    expect(await c.lookup('a@x')).toHaveLength(0); // ...seen after it
    rows = [binding()];
    c.invalidate('a@x'); // this process's change: seen at once
    expect(await c.lookup('a@x')).toHaveLength(1);
    expect(reads).toBe(3);
    t = 10_000;
    expect(await c.lookup('a@x')).toHaveLength(0);
  });

  it('does not revive an entry invalidated while its read was in flight; coalesces concurrent reads', async () => {
    let release: (v: SipBinding[]) => void = () => undefined;
    let reads = 0;
    const c = new LocationCache({ current: () => (reads++, new Promise<SipBinding[]>((r) => (release = r))) }, { ttlMs: 60_000, now: () => 0 });
    const a = c.lookup('a@x');
    const b = c.lookup('a@x');
    expect(reads).toBe(1);
    c.invalidate('a@x');
    release([binding({ expiresAt: 1 })]);
    expect(await a).toHaveLength(1);
    expect(await b).toHaveLength(1);
    const next = c.lookup('a@x');
    expect(reads).toBe(2);
    release([]);
    expect(await next).toHaveLength(0);
  });

  it('passes a store failure on and caches nothing', async () => {
    let fail = true;
    const c = new LocationCache({ current: async () => { if (fail) throw new Error('db down'); return [binding()]; } }, { now: () => 0 });
    await expect(c.lookup('a@x')).rejects.toThrow('db down');
    fail = false;
    expect(await c.lookup('a@x')).toHaveLength(1);
  });
});

describe('where a binding is reached', () => {
  it('through its SBC for an SBC registration, on its connection for TCP/TLS, at the contact for UDP unless behind NAT', () => {
    expect(targetOf(binding({ idsp: 'sbc1', source: 'udp:127.0.0.2:5070', contact: 'sip:b@10.0.0.9:5060' }))).toMatchObject({ requestUri: 'sip:b@10.0.0.9:5060', hop: { protocol: 'udp', address: '127.0.0.2', port: 5070 }, viaSbc: true });
    expect(targetOf(binding({ source: 'tls:198.51.100.7:40123' })).hop).toEqual({ protocol: 'tls', address: '198.51.100.7', port: 40123 });
    expect(targetOf(binding()).hop).toBeUndefined();
    expect(targetOf(binding({ contact: 'sip:a@192.168.1.5:5060', source: 'udp:198.51.100.7:3456' })).hop).toEqual({ protocol: 'udp', address: '198.51.100.7', port: 3456 });
    expect(parseSource('tcp:[2001:db8::1]:5060')).toEqual({ protocol: 'tcp', address: '2001:db8::1', port: 5060 });
    expect(parseSource('udp:not-an-ip:5060')).toBeUndefined();
  });

  it('merges failures: 6xx over 4xx over 5xx, a timeout last; local failures become 408/480, 503 becomes 500', () => {
    expect([408, 500, 486, 603].sort((a, b) => failureRank(a) - failureRank(b))).toEqual([603, 486, 500, 408]);
    expect(effectiveStatus(503, 'transport')).toBe(480);
    expect(effectiveStatus(408, 'timeout')).toBe(408);
    expect(effectiveStatus(503, undefined)).toBe(500);
  });

  it('keys contacts by user, host, port and transport only', () => {
    expect(contactKey('sip:Bob@EXAMPLE.com:5060;transport=UDP;ob')).toBe(contactKey('sip:Bob@example.com:5060;transport=udp'));
    expect(contactKey('sip:bob@example.com:5060')).not.toBe(contactKey('sip:bob@example.com:5062'));
    const f = new FlowIndex(1000, 2, () => 0);
    f.remember('sip:a@h:1', { address: '1.1.1.1', port: 1, protocol: 'udp' });
    f.remember('sip:b@h:1', { address: '1.1.1.1', port: 2, protocol: 'udp' });
    f.remember('sip:c@h:1', { address: '1.1.1.1', port: 3, protocol: 'udp' });
    expect(f.find('sip:a@h:1')).toBeUndefined(); // bounded: the oldest went
    expect(f.find('sip:c@h:1')?.port).toBe(3);
  });
});

describeEngines('softswitch call router under hostile input', (ctx) => {
  it('answers or drops mutated requests and keeps routing calls', async () => {
    const w = await world(ctx);
    const ss = { address: '127.0.0.1', port: w.ss.ports.udp! };
    const alice = await Phone.open(ALICE, ss);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      expect((await alice.register()).status).toBe(200);
      const base = serialize(createRequest('INVITE', `sip:${ALICE}`, [
        ['Via', 'SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-fuzz'], ['From', '<sip:x@lab.example>;tag=1'], ['To', `<sip:${ALICE}>`], ['Call-ID', 'fz'],
        ['CSeq', '1 INVITE'], ['Max-Forwards', '70'], ['Route', `<sip:127.0.0.1:${ss.port};lr>`], ['Record-Route', '<sip:10.0.0.1;lr>'], ['Proxy-Require', 'x'],
      ], Buffer.from('v=0\r\n')));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (edits) => {
          const b = Buffer.from(base);
          for (const [i, v] of edits) b[i] = v;
          await new Promise<void>((r) => sock.send(b, ss.port, '127.0.0.1', () => r()));
        }),
        { numRuns: 300 },
      );
      await new Promise((r) => setTimeout(r, 200));
      const opt = createRequest('OPTIONS', `sip:127.0.0.1:${ss.port}`, [['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:127.0.0.1>`], ['Call-ID', randomToken()], ['CSeq', '1 OPTIONS'], ['Max-Forwards', '70']]);
      expect((await alice.stack.send(opt, { destination: ss })).status).toBe(200);
      const call = await alice.invite(ALICE);
      expect((await call.final).status).toBe(200);
    } finally {
      sock.close();
      await alice.close();
      await w.close();
      await ctx.cleanup();
    }
  }, 30_000);
});
