import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SbcFlow, type SbcReplayState, type TerminalFlow } from '../../src/flow/index.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisSbcState } from '../../src/store/redis/sbc-state.js';
import { BINDING, makeLab, SBC_OFFER, type Lab } from '../flow/harness.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * KS1 at two SBC instances of one pool sharing Redis (docs/scale-out.md):
 * an s7 may land on another instance than its s1, and every replay table
 * is one for the pool.
 */
describeRedis('SBC KS1 state on Redis: two instances', () => {
  let server: TestRedis;
  let ra: SharedRedis;
  let rb: SharedRedis;
  let lab: Lab;
  let a: SbcFlow<SbcReplayState>;
  let b: SbcFlow<SbcReplayState>;
  const idsp = 'sbc1.lab.example';

  beforeAll(async () => {
    server = await startRedis();
    ra = connectRedis({ url: server.url, keyPrefix: 'kst:', commandTimeoutMs: 300 });
    rb = connectRedis({ url: server.url, keyPrefix: 'kst:', commandTimeoutMs: 300 });
    expect(await ra.ready(5000)).toBe(true);
    expect(await rb.ready(5000)).toBe(true);
  });
  afterAll(async () => {
    await ra?.close();
    await rb?.close();
    await server?.close();
  });
  beforeEach(() => {
    lab = makeLab({ idsp, seed: randomBytes(8).toString('hex') }); // fresh N1s: Redis outlives each test
    // Each instance draws its own N2s (real randomness), as separate processes do.
    const flow = (r: SharedRedis) => new SbcFlow<SbcReplayState>({ idsp, ksp: lab.ksp, offered: SBC_OFFER, clock: lab.clock.now, random: randomBytes, state: new RedisSbcState(r, idsp) });
    a = flow(ra);
    b = flow(rb);
  });

  /** s1 at `first`, s5 → s6 at `first`, the terminal's s7 (not sent yet). */
  async function challenged(t: TerminalFlow, first: SbcFlow<SbcReplayState>) {
    const s1 = t.start();
    const r1 = await first.onRegister(s1);
    if (!r1.ok) throw new Error(`s1: ${r1.kind}`);
    const r2 = await lab.softswitch.onRegister(r1.s2);
    if (r2.kind !== 'challenge') throw new Error(`s2: ${r2.kind}`);
    const r5 = await first.onChallenge(r2.s5, s1);
    if (!r5.ok) throw new Error(`s5: ${r5.kind}`);
    const r6 = t.onChallenge(r5.s6);
    if (!r6.ok) throw new Error(`s6: ${r6.error}`);
    return { s1, s7: r6.value };
  }

  /** s7 at `at` through s10 at the terminal. */
  async function complete(t: TerminalFlow, at: SbcFlow<SbcReplayState>, s7: Parameters<SbcFlow['onAuthenticate']>[0]) {
    const r7 = await at.onAuthenticate(s7, '192.0.2.10');
    if (!r7.ok) return r7;
    const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
    if (r8.kind !== 'accepted') throw new Error(`s8: ${r8.kind}`);
    const r9 = at.onAccepted(r8.s9, r7.pending);
    if (!r9.ok) throw new Error(`s9: ${r9.kind}`);
    const r10 = t.onSuccess(r9.s10);
    if (!r10.ok) throw new Error(`s10: ${r10.error}`);
    return { ok: true as const, session: r9.session, terminal: r10.value };
  }

  it('s1 at instance A, s7 at instance B: the registration completes with the same keys on both sides', async () => {
    const t = lab.terminal();
    const { s7 } = await challenged(t, a);
    const done = await complete(t, b, s7);
    expect(done.ok).toBe(true);
    if (!done.ok) return;
    expect(done.session.keys.sessionKey.equals(done.terminal.keys.sessionKey)).toBe(true);
  });

  it('without the shared state (memory per instance) the same s7 at B is unknown: what Redis fixes', async () => {
    const memA = new SbcFlow({ idsp, ksp: lab.ksp, offered: SBC_OFFER, clock: lab.clock.now, random: randomBytes });
    const memB = new SbcFlow({ idsp, ksp: lab.ksp, offered: SBC_OFFER, clock: lab.clock.now, random: randomBytes });
    const t = lab.terminal();
    const s1 = t.start();
    const r1 = memA.onRegister(s1);
    if (!r1.ok) throw new Error('s1');
    const r2 = await lab.softswitch.onRegister(r1.s2);
    if (r2.kind !== 'challenge') throw new Error('s2');
    const r5 = memA.onChallenge(r2.s5, s1);
    if (!r5.ok) throw new Error('s5');
    const r6 = t.onChallenge(r5.s6);
    if (!r6.ok) throw new Error('s6');
    const r7 = memB.onAuthenticate(r6.value, '192.0.2.10');
    expect(r7.ok ? 'accepted' : r7.kind === 'rechallenge' && r7.reason).toBe('n2-unknown');
  });

  it('an s7 replayed by an attacker at A or at B after it was used is refused; the terminal still registers afresh', async () => {
    const t = lab.terminal();
    const { s7 } = await challenged(t, a);
    expect((await complete(t, b, s7)).ok).toBe(true);
    for (const at of [a, b]) {
      const r = await at.onAuthenticate(s7, '198.51.100.66');
      expect(r.ok ? 'accepted' : r.kind === 'rechallenge' && r.reason).toBe('n2-unknown');
    }
    // The legitimate terminal: a new registration through either instance works.
    const t2 = lab.terminal();
    const again = await challenged(t2, b);
    expect((await complete(t2, a, again.s7)).ok).toBe(true);
  });

  it('an s7 raced to A and B at once is served by exactly one of them (one atomic take of N2)', async () => {
    const t = lab.terminal();
    const { s7 } = await challenged(t, b);
    const [ra7, rb7] = await Promise.all([a.onAuthenticate(s7, '192.0.2.10'), b.onAuthenticate(s7, '198.51.100.66')]);
    expect([ra7.ok, rb7.ok].filter(Boolean)).toHaveLength(1);
  });

  it("an s1's N1 replayed at the other instance is refused", async () => {
    const t = lab.terminal();
    const s1 = t.start();
    const first = await a.onRegister(s1);
    expect(first.ok).toBe(true);
    const replay = await b.onRegister(s1);
    expect(replay.ok ? 'accepted' : replay.kind === 'refused' && replay.reason).toBe('n1-replayed');
    const again = await a.onRegister(s1);
    expect(again.ok ? 'accepted' : again.kind === 'refused' && again.reason).toBe('n1-replayed');
  });

  it('Redis down: s1 and s7 are answered busy with a Retry-After, never accepted; registration works again when it returns', async () => {
    const t = lab.terminal();
    const { s7 } = await challenged(t, a);
    await server.kill();
    try {
      const r1 = await a.onRegister(lab.terminal().start());
      expect(r1.ok ? 'accepted' : r1.kind === 'busy' && r1.retryAfterSec).toBe(5);
      const r7 = await b.onAuthenticate(s7, '192.0.2.10');
      expect(r7.ok ? 'accepted' : r7.kind === 'busy' && r7.retryAfterSec).toBe(5);
    } finally {
      await server.start();
    }
    expect(await ra.ready(10_000)).toBe(true);
    expect(await rb.ready(10_000)).toBe(true);
    const t2 = lab.terminal();
    const again = await challenged(t2, a);
    expect((await complete(t2, b, again.s7)).ok).toBe(true);
  });
});

