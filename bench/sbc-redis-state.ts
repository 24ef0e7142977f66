/**
 * What the SBC's shared state on Redis costs per registration (docs/scale-out.md,
 * "SBC state in Redis"): the KS1 flow at the SBC (s1, s5→s6, s7, s9) plus the
 * sealed session write, in one process against a private redis-server on
 * loopback, side by side with the in-process (memory) state. Prints Redis
 * commands and round trips per registration (counted by the server) and µs of
 * wall time per registration — on a shared machine the times are noisy.
 *
 *   npx tsx bench/sbc-redis-state.ts [registrations=2000]
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { makeVector } from '../src/crypto/ks1.js';
import { KeyVault } from '../src/crypto/vault.js';
import { SbcFlow, SoftswitchFlow, TerminalFlow, type SbcReplayState } from '../src/flow/index.js';
import type { AucService } from '../src/contracts/auc.js';
import { SessionTable } from '../src/sbc/sessions.js';
import { connectRedis } from '../src/store/redis/index.js';
import { RedisSbcSessions } from '../src/store/redis/sbc-sessions.js';
import { RedisSbcState } from '../src/store/redis/sbc-state.js';

const N = Number(process.argv[2] ?? 2000);
const IDSP = 'sbc1.bench.example';
const ksp = randomBytes(32);
const kc = randomBytes(32);

const auc: AucService = {
  async vector(req) {
    const v = makeVector({ kc, ksp, idc: req.idc, idsp: req.idsp, rand: randomBytes(16), sessionKey: randomBytes(32) });
    return { ok: true, vector: { ...v, expiresAt: Date.now() + 30_000 } };
  },
  async digest() {
    return { ok: false, reason: 'no-sip-password' };
  },
  async registered() {},
  async deregistered() {},
  async failed() {
    return { locked: false };
  },
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function run(label: string, sbc: SbcFlow<SbcReplayState>, sessions: SessionTable): Promise<number> {
  const ss = new SoftswitchFlow({ auc });
  const binding = { protocol: 'sip', contact: '<sip:t@192.0.2.1>', expiresAt: Date.now() + 3600_000 };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const t = new TerminalFlow({ idc: `t${i}@bench.example`, kc, mechanisms: 'app-hmac;q=0.5' });
    const s1 = t.start();
    const r1 = await sbc.onRegister(s1);
    if (!r1.ok) throw new Error(`${label} s1 ${r1.kind}`);
    const r2 = await ss.onRegister(r1.s2);
    if (r2.kind !== 'challenge') throw new Error('s2');
    const r5 = await sbc.onChallenge(r2.s5, s1);
    if (!r5.ok) throw new Error('s5');
    const r6 = t.onChallenge(r5.s6);
    if (!r6.ok) throw new Error('s6');
    const r7 = await sbc.onAuthenticate(r6.value, '192.0.2.1');
    if (!r7.ok) throw new Error(`s7 ${r7.kind}`);
    const r8 = await ss.onAuthenticate(r7.s8, binding);
    if (r8.kind !== 'accepted') throw new Error('s8');
    const r9 = sbc.onAccepted(r8.s9, r7.pending);
    if (!r9.ok) throw new Error('s9');
    const rec = sessions.accept(r9.session, 'sip', 'udp:192.0.2.1:5060', Date.now() + 3600_000);
    await sessions.persist(rec);
  }
  return Number(process.hrtime.bigint() - t0) / 1000 / N;
}

async function main(): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ks-bench-redis-'));
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  try {
    const redis = connectRedis({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'ks:' });
    if (!(await redis.ready(10_000))) throw new Error('redis-server did not start');
    const memUs = await run('memory', new SbcFlow<SbcReplayState>({ idsp: IDSP, ksp, offered: [{ name: 'app-hmac', q: 0.5 }] }), new SessionTable());
    const shared = new RedisSbcSessions(redis, new KeyVault(randomBytes(32)), IDSP);
    const sessions = new SessionTable();
    sessions.share(shared);
    const stats = async (): Promise<{ cmds: number; calls: number }> => {
      const info = await redis.redis.info('stats');
      const cmds = Number(/total_commands_processed:(\d+)/.exec(info)![1]);
      return { cmds, calls: 0 };
    };
    const before = await stats();
    const flow = new SbcFlow<SbcReplayState>({ idsp: IDSP, ksp, offered: [{ name: 'app-hmac', q: 0.5 }], state: new RedisSbcState(redis, IDSP) });
    const redisUs = await run('redis', flow, sessions);
    const after = await stats();
    const perReg = (after.cmds - before.cmds - 1) / N; // the second INFO counts itself
    // Round trips: s1 (SET NX), s6 (SET NX), s7 (GETDEL, SET NX), the session (one MULTI … EXEC).
    console.log(`registrations: ${N} (sequential, one process, Redis on loopback; shared machine: times are noisy)`);
    console.log(`SBC KS1 + session, memory state: ${memUs.toFixed(0)} µs/registration`);
    console.log(`SBC KS1 + session, Redis state:  ${redisUs.toFixed(0)} µs/registration (+${(redisUs - memUs).toFixed(0)} µs)`);
    console.log(`Redis commands per registration: ${perReg.toFixed(2)} (SET NX ×3, GETDEL, MULTI DEL HSET PEXPIREAT PUBLISH EXEC); round trips: 5`);
    // An app-hmac in-dialog message with a shared store: one script call (claim of its sequence number).
    const t0 = process.hrtime.bigint();
    for (let seq = 1; seq <= N; seq++) await shared.claimUplink('t0@bench.example', Number(sessions.get('t0@bench.example')!.session.registeredAt), seq, 64);
    const claimUs = Number(process.hrtime.bigint() - t0) / 1000 / N;
    console.log(`app-hmac uplink claim (one EVALSHA round trip per in-dialog message): ${claimUs.toFixed(0)} µs each, sequential`);
    await shared.close();
    await redis.close();
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
