/**
 * The Contact check across a pool: bob registers through SBC instance A, and
 * mallory, authenticated as herself, registers bob's Contact through instance
 * B. B does not know that Contact itself; it reads the pool's shared contacts
 * (Redis) and refuses her 403, as A would. The core never records her, and
 * bob's own binding stays his.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startSbc } from '../../src/sbc/run.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisSbcContacts } from '../../src/store/redis/sbc-contacts.js';
import { SipTerminal, SipTerminalError } from '../../src/terminal/sip-terminal.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { FAST, IDSP, startLab } from './setup.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describeRedis('a Contact registered by another subscriber, at another instance of the pool', () => {
  let server: TestRedis;
  let ra: SharedRedis;
  let rb: SharedRedis;

  beforeAll(async () => {
    server = await startRedis();
    // both instances' keys under one prefix, as a pool's are; its own, so that no other test's keys are read
    const keyPrefix = `kst${randomBytes(4).toString('hex')}:`;
    ra = connectRedis({ url: server.url, keyPrefix, commandTimeoutMs: 500 });
    rb = connectRedis({ url: server.url, keyPrefix, commandTimeoutMs: 500 });
    expect(await ra.ready(5000)).toBe(true);
    expect(await rb.ready(5000)).toBe(true);
  }, 30_000);
  afterAll(async () => {
    await ra?.close();
    await rb?.close();
    await server?.close();
  });

  it("mallory registering bob's Contact at instance B, bob registered at A: 403 from B, bob's binding untouched", async () => {
    const l = await startLab({ sbc: { sharedContacts: new RedisSbcContacts(ra, IDSP) } });
    cleanup.push(() => l.close());
    const dir = mkdtempSync(join(tmpdir(), 'ks-sbc-b-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const b = await startSbc({
      idsp: IDSP,
      ksp: l.ksp,
      untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
      softswitch: { host: '127.0.0.1', port: l.core.port, transport: 'udp' },
      tls: { dataDir: dir },
      timers: FAST,
      sharedContacts: new RedisSbcContacts(rb, IDSP),
    });
    cleanup.push(() => b.close());

    const bobKc = l.provision('bob@lab.example');
    const bob = new SipTerminal(l.terminal('bob@lab.example', bobKc, { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: l.sbc.ports.udp! } }));
    cleanup.push(() => bob.close());
    await bob.registerKs1();
    const bobContact = l.core.locations.get('bob@lab.example')!.contact;

    const kc = l.provision('mallory@lab.example');
    const toB = { host: '127.0.0.1', port: b.ports.udp! };
    const mallory = new SipTerminal(l.terminal('mallory@lab.example', kc, { mechs: 'app-hmac;q=0.5', sbc: toB, contact: bobContact }));
    cleanup.push(() => mallory.close());
    const err = await mallory.registerKs1().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SipTerminalError);
    expect((err as SipTerminalError).status).toBe(403);
    expect(l.core.locations.has('mallory@lab.example')).toBe(false);
    expect(b.stats().failures.totals.forbidden).toBe(1); // counted against her flow at B
    expect(l.core.locations.get('bob@lab.example')!.contact).toBe(bobContact);

    // her own Contact is fine at B, and bob still refreshes at A
    const honest = new SipTerminal(l.terminal('mallory@lab.example', kc, { mechs: 'app-hmac;q=0.5', sbc: toB }));
    cleanup.push(() => honest.close());
    await expect(honest.registerKs1()).resolves.toMatchObject({ idsp: IDSP });
    await expect(bob.registerKs1()).resolves.toMatchObject({ idsp: IDSP });
  }, 30_000);
});
