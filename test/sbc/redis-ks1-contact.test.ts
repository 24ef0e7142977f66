/**
 * A KS1 terminal's Contact whose session the pool no longer holds (the
 * registration was removed at another instance: the record on Redis and the
 * copies go, the Contact's entry may outlive them): a call to that Contact is
 * answered 480 at the SBC and never delivered, since without a session the
 * SBC could only deliver it unsigned, as if to a Digest phone
 * (docs/security.md, "Several instances sharing Redis"). The terminal,
 * registered again, is reached. And an entry on Redis that is damaged,
 * expired or another pool's leads nowhere: 404, nothing sent to the address
 * it names.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KeyVault } from '../../src/crypto/vault.js';
import { SessionTable } from '../../src/sbc/sessions.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisSbcContacts } from '../../src/store/redis/sbc-contacts.js';
import { RedisSbcSessions } from '../../src/store/redis/sbc-sessions.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { call, callee } from './call-helpers.js';
import { IDSP, startLab, type Lab } from './setup.js';

describeRedis('SBC pool on Redis: a KS1 Contact without its session', () => {
  let server: TestRedis;
  let redis: SharedRedis;
  let shared: RedisSbcSessions;
  let sessions: SessionTable;
  let lab: Lab;

  beforeAll(async () => {
    server = await startRedis();
    redis = connectRedis({ url: server.url, keyPrefix: `kst${randomBytes(4).toString('hex')}:`, commandTimeoutMs: 500 });
    expect(await redis.ready(5000)).toBe(true);
    shared = new RedisSbcSessions(redis, new KeyVault(randomBytes(32)), IDSP);
    sessions = new SessionTable();
    sessions.share(shared);
    lab = await startLab({ route: true, sbc: { sessions, sharedContacts: new RedisSbcContacts(redis, IDSP) } });
  }, 30_000);
  afterAll(async () => {
    await lab?.close();
    await shared?.close();
    await redis?.close();
    await server?.close();
  });

  it('a call to it is answered 480 and reaches nobody; registered again, the terminal gets the next call', async () => {
    // answers for 3 s, then gives up: the call below must never reach it
    const first = await callee(lab, 'bob@lab.example', { calls: 1, timeoutSeconds: 3 });
    expect(sessions.get('bob@lab.example')).toBeDefined();

    // removed pool-wide, as a de-registration at another instance does: the Contact's entry stays
    sessions.remove('bob@lab.example');
    await expect.poll(async () => shared.get('bob@lab.example', Date.now()), { timeout: 2000 }).toBeUndefined();

    const alice = await call(lab, 'alice@lab.example', 'bob@lab.example');
    expect(alice.code).not.toBe(0);
    expect(alice.events).toContainEqual(expect.objectContaining({ event: 'failed', status: 480 }));
    await first.done;
    expect(first.events.map((e) => e.event)).not.toContain('incoming');

    // bob registers again (a new session): reached
    const bob = await callee(lab, 'bob@lab.example', { calls: 1 });
    const again = await call(lab, 'alice@lab.example', 'bob@lab.example', { holdSeconds: 0.1 });
    expect(again.code, JSON.stringify(again.events)).toBe(0);
    expect(await bob.done).toBe(0);
  }, 30_000);

  it('a damaged, expired or other-pool entry on Redis leads nowhere: the call is answered 404, nothing goes to the address it names', async () => {
    // where each entry points: a socket that must receive nothing
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    const port = sink.address().port;
    let received = 0;
    sink.on('message', () => received++);
    try {
      const entry = (idc: string, expiresAt: number) => [idc, 'digest', 'udp', '127.0.0.1', String(port), String(expiresAt)].join('\n');
      const planted: Array<[string, string, string]> = [
        ['damaged@lab.example', IDSP, 'garbage'],
        ['expired@lab.example', IDSP, entry('expired@lab.example', Date.now() - 1000)],
        ['other@lab.example', 'sbc9.other.example', entry('other@lab.example', Date.now() + 60_000)],
      ];
      for (const [idc, idsp, value] of planted) {
        const user = idc.split('@')[0]!;
        await redis.redis.set(`sbc:ct:${idsp}|${user}@127.0.0.1:${port}`, value, 'PX', 60_000);
        // the core believes the terminal is behind this SBC, at that Contact
        lab.core.locations.set(idc, { contact: `sip:${user}@127.0.0.1:${port}`, address: '127.0.0.1', port: lab.sbc.ports.core! });
      }
      for (const [idc] of planted) {
        const alice = await call(lab, 'alice@lab.example', idc);
        expect(alice.code, idc).not.toBe(0);
        expect(alice.events, idc).toContainEqual(expect.objectContaining({ event: 'failed', status: 404 }));
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toBe(0);
    } finally {
      sink.close();
    }
  }, 30_000);
});
