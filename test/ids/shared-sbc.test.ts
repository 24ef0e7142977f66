/**
 * Two SBC instances (in this process, each with its own IDS), sharing the
 * IDS through one real redis-server, attacked over UDP: the attacker's
 * OPTIONS go half to each SBC, each half under the rule's threshold, and
 * both SBCs stop answering it; a legitimate client is answered by both all
 * along. The same traffic against two SBCs without Redis blocks nothing.
 * The rule counts 20 messages in 60 s, so the pace of the machine does not
 * matter; the exchanges run on their own timers (50 ms).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { compileRules } from '../../src/ids/rules.js';
import { IdsSharing } from '../../src/ids/shared.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { connectRedis } from '../../src/store/redis/index.js';
import { redisIdsBackend } from '../../src/store/redis/ids-shared.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

const RULES = `<?xml version="1.0" encoding="UTF-8"?>
<ids-rules version="1">
  <rule name="flood from a stranger" type="flood">
    <protocol>sip</protocol>
    <number>20</number>
    <interval>60</interval>
    <per>flow</per>
    <except>good-record</except>
    <alert content="message flood from a flow that never authenticated"/>
    <action type="block" scope="flow" seconds="600"/>
  </rule>
</ids-rules>`;

interface Sbc {
  sbc: RunningSbc;
  ids: IdsEngine;
  sharing: IdsSharing | undefined;
  port: number;
  dir: string;
}

let server: TestRedis;
const open: Sbc[] = [];

async function sbcInstance(redisUrl: string | undefined, prefix: string): Promise<Sbc> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-ids-sbc-'));
  let sharing: IdsSharing | undefined;
  if (redisUrl) {
    const redis = connectRedis({ url: redisUrl, keyPrefix: prefix });
    expect(await redis.ready(5000)).toBe(true);
    sharing = new IdsSharing(redisIdsBackend(redis), { syncMs: 50 });
  }
  const ids = new IdsEngine({ rules: compileRules(RULES), ...(sharing ? { sharing } : {}) });
  const sbc = await startSbc({
    idsp: 'sbc1.lab.example', ksp: randomBytes(32),
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
    softswitch: { host: '127.0.0.1', port: 9 },
    offered: [{ name: 'app-hmac', q: 0.5 }],
    tls: { dataDir: dir },
    signing: { enabled: false },
    ids,
  });
  const s = { sbc, ids, sharing, port: sbc.ports.udp!, dir };
  open.push(s);
  if (sharing) await vi.waitFor(() => expect(sharing.stats.resyncs).toBe(1), { timeout: 5000 });
  return s;
}

async function client(): Promise<{ socket: Socket; answers: Map<string, number>; options(to: number, n: number): void }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const answers = new Map<string, number>();
  socket.on('message', (m) => {
    const id = /Call-ID: *(\S+)/i.exec(m.toString())?.[1];
    if (id) answers.set(id, Number(m.toString().slice(8, 11)));
  });
  const lp = socket.address().port;
  return {
    socket,
    answers,
    options(to: number, n: number) {
      socket.send(`OPTIONS sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK${lp}x${to}x${n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@lab.example>;tag=t${lp}\r\nTo: <sip:lab.example>\r\nCall-ID: c${to}x${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`, to, '127.0.0.1');
    },
  };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis('two SBC instances share the IDS through Redis, attacked over UDP', () => {
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const s of open.splice(0)) {
      await s.sbc.close();
      await s.sharing?.close();
      rmSync(s.dir, { recursive: true, force: true });
    }
    await server?.close();
  });

  /** The attacker: 15 OPTIONS to each SBC (threshold 20 per flow in 60 s), a pause between each pair. */
  async function attack(a: Sbc, b: Sbc): Promise<{ attacker: Awaited<ReturnType<typeof client>>; legit: Awaited<ReturnType<typeof client>> }> {
    const attacker = await client();
    const legit = await client();
    for (let n = 1; n <= 15; n++) {
      attacker.options(a.port, n);
      attacker.options(b.port, n);
      // The legitimate client at its own pace: 5 to each, 10 in all, under the threshold.
      if (n % 3 === 0) {
        legit.options(a.port, n);
        legit.options(b.port, n);
      }
      await pause(20);
    }
    return { attacker, legit };
  }

  it('without Redis: 15 at each SBC is under the threshold at each, nothing is blocked', async () => {
    const a = await sbcInstance(undefined, '');
    const b = await sbcInstance(undefined, '');
    const { attacker, legit } = await attack(a, b);
    await vi.waitFor(() => expect(legit.answers.size).toBe(10), { timeout: 5000 });
    await vi.waitFor(() => expect(attacker.answers.size).toBe(30), { timeout: 5000 });
    expect(a.ids.blocks().length + b.ids.blocks().length).toBe(0);
    attacker.socket.close();
    legit.socket.close();
  });

  it('with Redis: the attacker is blocked by both SBCs and neither answers it any more; the legitimate client is answered by both', async () => {
    const a = await sbcInstance(server.url, 'kse2e:');
    const b = await sbcInstance(server.url, 'kse2e:');
    const { attacker, legit } = await attack(a, b);
    const flow = `127.0.0.1:${attacker.socket.address().port}`;
    // A slow machine may not have exchanged the last totals yet: up to 4 more each, still under 20 at each.
    for (let n = 16; n < 20 && !(a.ids.isBlocked('127.0.0.1', attacker.socket.address().port) && b.ids.isBlocked('127.0.0.1', attacker.socket.address().port)); n++) {
      await pause(300);
      attacker.options(a.port, n);
      attacker.options(b.port, n);
    }
    await vi.waitFor(() => {
      expect(a.ids.blocks().map((x) => x.target)).toContain(flow);
      expect(b.ids.blocks().map((x) => x.target)).toContain(flow);
    }, { timeout: 5000 });
    // Each SBC saw fewer than 20 of the attacker's messages: it was the total that blocked it.
    expect(a.ids.partners(10).find((p) => p.key === flow)?.messages).toBeLessThan(20);
    expect(b.ids.partners(10).find((p) => p.key === flow)?.messages).toBeLessThan(20);
    attacker.answers.clear();
    legit.answers.clear();
    attacker.options(a.port, 100);
    attacker.options(b.port, 100);
    legit.options(a.port, 100);
    legit.options(b.port, 100);
    await vi.waitFor(() => expect(legit.answers.size).toBe(2), { timeout: 5000 });
    await pause(300);
    expect(attacker.answers.size).toBe(0);
    attacker.socket.close();
    legit.socket.close();
  });
});
