/**
 * Two SBC instances (in this process, each with its own IDS), sharing the
 * IDS through one real redis-server, attacked over UDP: the attacker's
 * OPTIONS go half to each SBC, each half under the rule's threshold, and
 * both SBCs stop answering it; a legitimate client is answered by both all
 * along. The same traffic against two SBCs without Redis blocks nothing.
 * The rule counts 20 messages in 60 s, so the pace of the machine does not
 * matter; the exchanges run on their own timers (50 ms).
 * With the shipped rules, in front of one core: password guessing (KS1 with a
 * wrong key, 2 guesses at one SBC, 1 at the other) and an extension scan
 * (6 identities at each) are blocked by both, and a terminal that has the
 * right key still registers at both; so is guessing from one address (6 wrong
 * keys at each SBC, each from a new port against a new identity: 10 blocks the
 * address), while a terminal from another address registers at both.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { compileRules } from '../../src/ids/rules.js';
import { IdsSharing } from '../../src/ids/shared.js';
import { shippedRules } from '../../src/ids/service.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { registerSip } from '../../src/terminal/register.js';
import { connectRedis } from '../../src/store/redis/index.js';
import { redisIdsBackend } from '../../src/store/redis/ids-shared.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { startFakeCore, type FakeCore } from '../sbc/fake-core.js';
import { FAST, IDSP } from '../sbc/setup.js';

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
/** The pool's core (a softswitch and AuC), for the SBCs that run the shipped rules. */
const KSP = randomBytes(32);
let core: FakeCore | undefined;

async function sbcInstance(redisUrl: string | undefined, prefix: string, shipped = false): Promise<Sbc> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-ids-sbc-'));
  let sharing: IdsSharing | undefined;
  if (redisUrl) {
    const redis = connectRedis({ url: redisUrl, keyPrefix: prefix });
    expect(await redis.ready(5000)).toBe(true);
    sharing = new IdsSharing(redisIdsBackend(redis), { syncMs: 50 });
  }
  const ids = new IdsEngine({ rules: compileRules(shipped ? readFileSync(shippedRules(), 'utf8') : RULES), ...(sharing ? { sharing } : {}) });
  if (shipped) core ??= await startFakeCore({ idsp: IDSP, ksp: KSP });
  const sbc = await startSbc({
    idsp: IDSP, ksp: shipped ? KSP : randomBytes(32),
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
    softswitch: { host: '127.0.0.1', port: shipped ? core!.port : 9 },
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

interface Client {
  socket: Socket;
  answers: Map<string, number>;
  options(to: number, n: number): void;
  /** A REGISTER for `user@lab.example` without credentials, as a scanner sends. */
  register(to: number, n: number, user: string): void;
}

async function client(host = '127.0.0.1'): Promise<Client> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, host, () => r()));
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
      socket.send(`OPTIONS sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP ${host}:${lp};branch=z9hG4bK${lp}x${to}x${n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@lab.example>;tag=t${lp}\r\nTo: <sip:lab.example>\r\nCall-ID: c${to}x${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`, to, '127.0.0.1');
    },
    register(to: number, n: number, user: string) {
      const aor = `sip:${user}@lab.example`;
      socket.send(`REGISTER sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP ${host}:${lp};branch=z9hG4bK${lp}r${to}x${n}\r\nMax-Forwards: 70\r\nFrom: <${aor}>;tag=t${lp}\r\nTo: <${aor}>\r\nCall-ID: c${to}x${n}\r\nCSeq: ${n} REGISTER\r\nContact: <sip:${user}@${host}:${lp}>\r\nContent-Length: 0\r\n\r\n`, to, '127.0.0.1');
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
    await core?.close();
    await server?.close();
  });

  /** The attacker: 15 OPTIONS to each SBC (threshold 20 per flow in 60 s), a pause between each pair. */
  async function attack(a: Sbc, b: Sbc): Promise<{ attacker: Client; legit: Client }> {
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
  /** A terminal registering through one SBC with KS1 and app-hmac; a wrong key is a guess. */
  const registerAt = (s: Sbc, idc: string, kc: Buffer, localHost = '127.0.0.1') =>
    registerSip({ idc, kc, transport: 'udp', mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: s.port }, localHost, timers: FAST, deadlineMs: 5000 });
  const provision = (idc: string) => {
    const kc = randomBytes(32);
    core!.auc.terminals.set(idc, { kc });
    return kc;
  };

  it('password guessing against one identity, 2 wrong keys at A and 1 at B (3 blocks it): without Redis nothing is blocked; with Redis both block the identity, and a terminal with its own key registers at both', async () => {
    /** Each guess a full KS1 run with a wrong key, from a new socket, answered 403 by the core. */
    const guess = async (a: Sbc, b: Sbc, idc: string) => {
      for (const s of [a, b, a]) {
        const r = await registerAt(s, idc, randomBytes(32));
        expect(r.ok).toBe(false);
        await pause(200);
      }
    };
    const ca = await sbcInstance(undefined, '', true);
    const cb = await sbcInstance(undefined, '', true);
    provision('bob@lab.example');
    await guess(ca, cb, 'bob@lab.example');
    expect(ca.ids.blocks().length + cb.ids.blocks().length).toBe(0);

    const a = await sbcInstance(server.url, 'ksguess:', true);
    const b = await sbcInstance(server.url, 'ksguess:', true);
    const carol = provision('carol@lab.example');
    const alice = provision('alice@lab.example');
    await guess(a, b, 'carol@lab.example');
    await vi.waitFor(() => {
      for (const s of [a, b]) expect(s.ids.blocks().map((x) => x.target)).toContain('id:carol@lab.example');
    }, { timeout: 5000 });
    // Each SBC saw fewer than 3 failures against her: it was the total that blocked it.
    for (const s of [a, b]) {
      const failed = s.ids.partners(200).find((p) => p.kind === 'identity' && p.key === 'carol@lab.example')?.authFailed;
      expect(failed).toBeGreaterThan(0);
      expect(failed).toBeLessThan(3);
    }
    // The next guess, and even her right key from a source where she never authenticated, get no answer at either.
    for (const s of [a, b]) expect((await registerAt(s, 'carol@lab.example', carol)).ok).toBe(false);
    // Alice, from another socket, registers at both.
    for (const s of [a, b]) {
      const r = await registerAt(s, 'alice@lab.example', alice);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  }, 60_000);

  it('an extension scan from 127.0.0.2, 6 identities at each SBC (10 blocks it): without Redis both answer all; with Redis both stop answering it, and a terminal from 127.0.0.1 registers at both', async () => {
    const scan = async (a: Sbc, b: Sbc, scanner: Client) => {
      for (let n = 1; n <= 6; n++) {
        scanner.register(a.port, n, `${100 + n}`);
        scanner.register(b.port, n, `${200 + n}`);
        await pause(100);
      }
    };
    const ca = await sbcInstance(undefined, '', true);
    const cb = await sbcInstance(undefined, '', true);
    const control = await client('127.0.0.2');
    await scan(ca, cb, control);
    await vi.waitFor(() => expect(control.answers.size).toBe(12), { timeout: 5000 });
    expect(ca.ids.blocks().length + cb.ids.blocks().length).toBe(0);
    control.socket.close();

    const a = await sbcInstance(server.url, 'ksscan:', true);
    const b = await sbcInstance(server.url, 'ksscan:', true);
    const alice = provision('alice@lab.example');
    const scanner = await client('127.0.0.2');
    await scan(a, b, scanner);
    const flow = `127.0.0.2:${scanner.socket.address().port}`;
    // the totals of a slow machine's last exchange: one more identity at A, 7 there, 13 in all
    scanner.register(a.port, 7, '107');
    await vi.waitFor(() => {
      for (const s of [a, b]) expect(s.ids.blocks().map((x) => x.target)).toContain(flow);
    }, { timeout: 5000 });
    scanner.answers.clear();
    for (const s of [a, b]) scanner.register(s.port, 100, '300');
    for (const s of [a, b]) {
      const r = await registerAt(s, 'alice@lab.example', alice);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    expect(scanner.answers.size).toBe(0);
    scanner.socket.close();
  }, 60_000);
  it('password guessing from one address, 6 wrong keys at each SBC, each from a new port against a new identity (10 blocks the address): without Redis nothing is blocked; with Redis both block 127.0.0.3, even for a right key, and a terminal from 127.0.0.1 registers at both', async () => {
    const guess = async (a: Sbc, b: Sbc, tag: string) => {
      for (let n = 1; n <= 6; n++) {
        for (const s of [a, b]) {
          const idc = `${tag}-${s === a ? 'a' : 'b'}${n}@lab.example`;
          provision(idc);
          expect((await registerAt(s, idc, randomBytes(32), '127.0.0.3')).ok).toBe(false);
        }
        await pause(100);
      }
    };
    const ca = await sbcInstance(undefined, '', true);
    const cb = await sbcInstance(undefined, '', true);
    await guess(ca, cb, 'lone');
    expect(ca.ids.blocks().length + cb.ids.blocks().length).toBe(0);

    const a = await sbcInstance(server.url, 'ksaddr:', true);
    const b = await sbcInstance(server.url, 'ksaddr:', true);
    const dave = provision('dave@lab.example');
    const alice = provision('alice@lab.example');
    await guess(a, b, 'shared');
    await vi.waitFor(() => {
      for (const s of [a, b]) expect(s.ids.blocks().map((x) => x.target)).toContain('127.0.0.3');
    }, { timeout: 5000 });
    // each SBC saw fewer than 10 failures from the address: it was the total that blocked it
    for (const s of [a, b]) {
      const failed = s.ids.partners(500).find((p) => p.kind === 'address' && p.key === '127.0.0.3')?.authFailed;
      expect(failed).toBeGreaterThan(0);
      expect(failed).toBeLessThan(10);
    }
    for (const s of [a, b]) {
      expect((await registerAt(s, 'dave@lab.example', dave, '127.0.0.3')).ok).toBe(false);
      const r = await registerAt(s, 'alice@lab.example', alice);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  }, 60_000);
});
