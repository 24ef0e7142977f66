/**
 * Where a pool's SBC instances reach a terminal, shared through Redis
 * (src/store/redis/sbc-contacts.ts, the ContactMap's `share`/`persist`/`load`;
 * docs/scale-out.md, "Losing an SBC instance"): written at registration, read
 * by an instance that does not know the Contact; a UDP flow is used from the
 * reading instance, a connection-bound one is not.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ContactMap } from '../../src/sbc/sip-contacts.js';
import { createUdpTransport, parseUri, type MessageSource, type SipTransport } from '../../src/sip/index.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisSbcContacts } from '../../src/store/redis/sbc-contacts.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

const IDSP = 'sbc.test.example';

describeRedis('SBC contacts shared through Redis', () => {
  let server: TestRedis;
  let redis: SharedRedis;
  let udp: SipTransport;
  const transports: SipTransport[] = [];

  beforeAll(async () => {
    server = await startRedis();
    redis = connectRedis({ url: server.url, keyPrefix: 'kst:', commandTimeoutMs: 300 });
    expect(await redis.ready(5000)).toBe(true);
    udp = await createUdpTransport();
    transports.push(udp);
  }, 30_000);
  afterAll(async () => {
    for (const t of transports) await t.close();
    await redis?.close();
    await server?.stop();
  });

  const src = (protocol: 'udp' | 'tcp', address: string, port: number): MessageSource => ({ transport: { ...udp, protocol } as SipTransport, protocol, address, port });
  const instance = () => {
    const m = new ContactMap();
    m.share(new RedisSbcContacts(redis, IDSP), (p) => (p === 'udp' ? udp : undefined));
    return m;
  };

  it('a registration at A is found at B: the IDc, its KS1 mark and its UDP flow, as long as the binding lives', async () => {
    const a = instance();
    const b = instance();
    const contact = parseUri('sip:bob@10.1.2.3:5062;transport=udp', 'Contact');
    a.bind('bob@lab.example', contact, Date.now() + 60_000);
    await a.persist('bob@lab.example', [contact], Date.now() + 60_000, src('udp', '192.0.2.40', 40001), true);
    const ttl = Number(await redis.redis.pttl(`sbc:ct:${IDSP}|bob@10.1.2.3:5062`));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    expect(b.lookup(contact)).toBeUndefined();
    // the core's Request-URI: the Contact as registered (its parameters do not matter)
    const found = await b.load(parseUri('sip:bob@10.1.2.3:5062', 'Request-URI'));
    expect(found).toEqual({ idc: 'bob@lab.example', ks1: true });
    expect(b.lookup(contact)).toBe('bob@lab.example');
    expect(b.registeredByKs1(contact)).toBe(true);
    const f = b.flow('bob@lab.example');
    expect(f && { address: f.address, port: f.port, transport: f.transport }).toEqual({ address: '192.0.2.40', port: 40001, transport: udp });

    // de-registration at A: gone for B too
    await a.persist('bob@lab.example', [contact], Date.now() - 1, src('udp', '192.0.2.40', 40001), true);
    expect(await instance().load(contact)).toBeUndefined();
  });

  it('a connection-bound flow (TCP) is not taken over: the IDc is known, no flow', async () => {
    const a = instance();
    const contact = parseUri('sip:carol@10.1.2.4:5062;transport=tcp', 'Contact');
    await a.persist('carol@lab.example', [contact], Date.now() + 60_000, src('tcp', '192.0.2.41', 40002), true);
    const b = instance();
    expect(await b.load(contact)).toEqual({ idc: 'carol@lab.example', ks1: true });
    expect(b.flow('carol@lab.example')).toBeUndefined();
  });

  it('an unknown, expired or damaged entry is no terminal; without a store nothing is read', async () => {
    const b = instance();
    expect(await b.load(parseUri('sip:nobody@10.9.9.9', 'Request-URI'))).toBeUndefined();
    await redis.redis.set(`sbc:ct:${IDSP}|old@10.1.2.5`, ['old@lab.example', 'ks1', 'udp', '192.0.2.42', '40003', String(Date.now() - 1000)].join('\n'), 'PX', 60_000);
    expect(await b.load(parseUri('sip:old@10.1.2.5', 'Request-URI'))).toBeUndefined();
    await redis.redis.set(`sbc:ct:${IDSP}|bad@10.1.2.6`, 'garbage', 'PX', 60_000);
    expect(await b.load(parseUri('sip:bad@10.1.2.6', 'Request-URI'))).toBeUndefined();
    await redis.redis.set(`sbc:ct:${IDSP}|port@10.1.2.7`, ['p@lab.example', 'ks1', 'udp', '192.0.2.43', '70000', String(Date.now() + 60_000)].join('\n'), 'PX', 60_000);
    expect(await b.load(parseUri('sip:port@10.1.2.7', 'Request-URI'))).toBeUndefined();
    const alone = new ContactMap();
    expect(alone.shared).toBe(false);
    expect(alone.persist('x@lab.example', [], Date.now() + 1000, src('udp', '192.0.2.44', 1), true)).toBeUndefined();
    expect(await alone.load(parseUri('sip:bob@10.1.2.3:5062', 'Request-URI'))).toBeUndefined();
  });

  it('another IDsp (another pool on the same Redis) does not see these Contacts', async () => {
    const a = instance();
    const contact = parseUri('sip:dave@10.1.2.8', 'Contact');
    await a.persist('dave@lab.example', [contact], Date.now() + 60_000, src('udp', '192.0.2.45', 40005), false);
    const other = new ContactMap();
    other.share(new RedisSbcContacts(redis, 'other.test.example'), () => udp);
    expect(await other.load(contact)).toBeUndefined();
    const here = instance();
    expect(await here.load(contact)).toEqual({ idc: 'dave@lab.example', ks1: false });
    expect(here.registeredByKs1(contact)).toBe(false);
  });
});
