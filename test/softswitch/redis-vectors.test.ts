import { afterAll, beforeAll, expect, it } from 'vitest';
import { SoftswitchFlow } from '../../src/flow/index.js';
import type { S8 } from '../../src/flow/messages.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisVectorState } from '../../src/store/redis/softswitch-vectors.js';
import { BINDING, makeLab, type Lab } from '../flow/harness.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

/** s1…s7 through the lab's SBC, s2 to `first`; returns the s8 and what the SBC holds for s9. */
async function upToS8(lab: Lab, first: SoftswitchFlow) {
  const terminal = lab.terminal();
  const s1 = terminal.start();
  const r1 = lab.sbc.onRegister(s1);
  if (!r1.ok) throw new Error(`s1: ${r1.kind}`);
  const r2 = await first.onRegister(r1.s2);
  if (r2.kind !== 'challenge') throw new Error(`s2: ${r2.kind}`);
  const r5 = lab.sbc.onChallenge(r2.s5, s1);
  if (!r5.ok) throw new Error(`s5: ${r5.kind}`);
  const r6 = terminal.onChallenge(r5.s6);
  if (!r6.ok) throw new Error(`s6: ${r6.error}`);
  const r7 = lab.sbc.onAuthenticate(r6.value, '192.0.2.10');
  if (!r7.ok) throw new Error(`s7: ${r7.kind}`);
  return { terminal, s8: r7.s8, pending: r7.pending, rand: r2.s5.rand };
}

describeRedis('KS1 vectors shared by softswitch instances through Redis', () => {
  let server: TestRedis;
  let a: SharedRedis;
  let b: SharedRedis;

  beforeAll(async () => {
    server = await startRedis();
    a = connectRedis({ url: server.url, commandTimeoutMs: 2000 });
    b = connectRedis({ url: server.url, commandTimeoutMs: 2000 });
    expect(await a.ready(5000)).toBe(true);
    expect(await b.ready(5000)).toBe(true);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.close();
  });

  const flows = (lab: Lab) => ({
    A: new SoftswitchFlow({ auc: lab.auc, clock: lab.clock.now, random: lab.random, vectors: new RedisVectorState(a) }),
    B: new SoftswitchFlow({ auc: lab.auc, clock: lab.clock.now, random: lab.random, vectors: new RedisVectorState(b) }),
  });

  it('an s8 reaching instance B completes the challenge instance A issued, once; a replay at A or B is only re-challenged', async () => {
    const lab = makeLab({ seed: 'redis-vectors-1' });
    const { A, B } = flows(lab);
    const { terminal, s8, pending } = await upToS8(lab, A);
    const r8 = await B.onAuthenticate(s8, BINDING);
    expect(r8.kind).toBe('accepted');
    if (r8.kind !== 'accepted') return;
    const r9 = lab.sbc.onAccepted(r8.s9, pending);
    expect(r9.ok).toBe(true);
    if (!r9.ok) return;
    const r10 = terminal.onSuccess(r9.s10);
    expect(r10.ok).toBe(true);
    if (r10.ok) expect(r10.value.keys.kAppHmac.equals(r9.session.keys.kAppHmac)).toBe(true);
    expect(lab.auc.registrations).toHaveLength(1);

    // an attacker who captured the s8 replays it at either instance
    for (const f of [A, B]) {
      const again = await f.onAuthenticate(s8, BINDING);
      expect(again.kind).toBe('challenge');
      if (again.kind === 'challenge') expect(again.reason).toBe('stale');
    }
    expect(lab.auc.registrations).toHaveLength(1);
    expect(lab.auc.failedReports).toHaveLength(0);
  });

  it('without the shared store the same s8 at B is only re-challenged (what Redis changes)', async () => {
    const lab = makeLab({ seed: 'redis-vectors-2' });
    const A = new SoftswitchFlow({ auc: lab.auc, clock: lab.clock.now, random: lab.random });
    const B = new SoftswitchFlow({ auc: lab.auc, clock: lab.clock.now, random: lab.random });
    const { s8 } = await upToS8(lab, A);
    const r8 = await B.onAuthenticate(s8, BINDING);
    expect(r8.kind).toBe('challenge');
  });

  it('a wrong authenticator sent to B is a failure reported once, and the vector is gone for A too', async () => {
    const lab = makeLab({ seed: 'redis-vectors-3' });
    const { A, B } = flows(lab);
    const { s8 } = await upToS8(lab, A);
    const forged: S8 = { ...s8, authenticator: Buffer.alloc(s8.authenticator.length, 7) };
    const r = await B.onAuthenticate(forged, BINDING);
    expect(r.kind).toBe('challenge');
    if (r.kind === 'challenge') expect(r.reason).toBe('wrong-authenticator');
    expect(lab.auc.failedReports).toHaveLength(1);
    const late = await A.onAuthenticate(s8, BINDING);
    expect(late.kind).toBe('challenge');
    expect(lab.auc.registrations).toHaveLength(0);
  });

  it('Redis holds no authenticator an s8 could be made from', async () => {
    const lab = makeLab({ seed: 'redis-vectors-4' });
    const { A } = flows(lab);
    const { s8, rand } = await upToS8(lab, A);
    const raw = await a.run((c) => c.get(`ss:vec:${rand.toString('hex')}`));
    expect(raw).toBeTruthy();
    for (const enc of ['hex', 'base64', 'base64url'] as const) expect(raw!.includes(s8.authenticator.toString(enc))).toBe(false);
  });

  it('Redis down: busy (503 with Retry-After), and registrations complete again once it is back', async () => {
    const lab = makeLab({ seed: 'redis-vectors-5' });
    const { A, B } = flows(lab);
    await server.kill();
    const terminal = lab.terminal();
    const s1 = terminal.start();
    const r1 = lab.sbc.onRegister(s1);
    expect(r1.ok).toBe(true);
    if (!r1.ok) return;
    const r2 = await A.onRegister(r1.s2);
    expect(r2).toEqual({ kind: 'unavailable', cause: 'busy' });
    await server.start();
    expect(await a.ready(10_000)).toBe(true);
    expect(await b.ready(10_000)).toBe(true);
    const { s8 } = await upToS8(lab, A);
    expect((await B.onAuthenticate(s8, BINDING)).kind).toBe('accepted');
  });
});
