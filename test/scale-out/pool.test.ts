/**
 * Two SBC instances of one signing pool (one Ksp, one pool certificate, each
 * the other's alias) in hosts of their own, one softswitch, the AuC, on
 * PostgreSQL, and the pool's one address (a UDP balancer in front of both):
 * calls cross both instances, and an instance killed with -9 loses its
 * terminals only until their next registration reaches the other
 * (docs/scale-out.md).
 */
import { expect, it } from 'vitest';
import type { Lab } from './lab.js';
import { describeLab } from './use-lab.js';

const keys: Record<string, string> = {};

/** bob answers one call through `bobSbc`, alice calls him through `aliceSbc`; both hang up cleanly. */
async function call(l: Lab, aliceSbc: string, bobSbc: string): Promise<void> {
  const bob = l.terminal('t2', 'answer', ['--id', 'bob@lab.example', '--sbc', bobSbc, '--calls', '1', '--timeout', '30'], keys.bob);
  await bob.next('registered');
  const alice = l.terminal('t1', 'call', ['--id', 'alice@lab.example', '--to', 'bob@lab.example', '--sbc', aliceSbc, '--hold', '1', '--timeout', '20'], keys.alice);
  expect(await alice.done, JSON.stringify(alice.list) + alice.err()).toBe(0);
  expect(await bob.done, JSON.stringify(bob.list) + bob.err()).toBe(0);
  expect(alice.list.map((e) => e.event)).toEqual(expect.arrayContaining(['registered', 'calling', 'answered', 'bye']));
  expect(alice.list.find((e) => e.event === 'bye')).toMatchObject({ by: 'local', status: 200 });
  expect(bob.list.map((e) => e.event)).toEqual(expect.arrayContaining(['incoming', 'bye']));
}

describeLab('scale-out: two SBC instances of one pool in hosts of their own', ['auc', 'ss-a', 'sbc-a', 'sbc-b', 'vip', 't1', 't2'], async (lab: Lab) => {
  lab.provisionPool();
  for (const who of ['alice', 'bob', 'dave']) keys[who] = lab.provisionTerminal(`${who}@lab.example`);
  await lab.start('auc', 'auc');
  await lab.start('ss-a', 'ss-a');
  await Promise.all([lab.start('sbc-a', 'sbc-a'), lab.start('sbc-b', 'sbc-b'), lab.startBalancer(['sbc-a', 'sbc-b'])]);
}, (lab) => {
  it('a terminal registered through SBC A calls one registered through SBC B, and hangs up', async () => {
    const l = lab();
    await call(l, `${l.addr('sbc-a')}:5060`, `${l.addr('sbc-b')}:5060`);
  }, 60_000);

  it('through the pool address: each instance down in turn, terminals registering again are reached through the other', async () => {
    const l = lab();
    const vip = `${l.addr('vip')}:5060`;
    await call(l, vip, vip);
    for (const host of ['sbc-a', 'sbc-b'] as const) {
      await l.balance(`down ${host}`);
      await call(l, vip, vip);
      await l.balance(`up ${host}`);
    }
  }, 120_000);

  it('PostgreSQL restarted (every connection cut, then refused): with no role restarted, a terminal not seen before registers and calls work', async () => {
    const l = lab();
    const sbc = `${l.addr('sbc-a')}:5060`;
    const register = async () => {
      const r = l.terminal('t1', 'register', ['--id', 'dave@lab.example', '--sbc', sbc, '--mechs', 'app-hmac;q=0.5', '--timeout', '5'], keys.dave);
      await r.done;
      return r.list[0] ?? {};
    };
    await l.pgDown();
    // its key is in the database only: nothing to register it with while the database is away
    expect(await register()).toMatchObject({ ok: false });
    await l.pgUp();
    let last: Record<string, unknown> = {};
    for (let i = 0; i < 30 && last.ok !== true; i++) last = await register();
    expect(last, l.logs()).toMatchObject({ ok: true, idc: 'dave@lab.example' });
    await call(l, sbc, `${l.addr('sbc-b')}:5060`);
  }, 120_000);
});
