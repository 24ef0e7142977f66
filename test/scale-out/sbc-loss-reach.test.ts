/**
 * A terminal registered through SBC instance A is reached from the core
 * through instance B after A dies, before it registers again
 * (docs/scale-out.md, "Losing an SBC instance"). bob registers once (app-hmac
 * over UDP, through the pool address pinned to A) and never again; alice is
 * on B. A is killed with -9 while a call between them is up: alice's BYE
 * (the core sends it toward A, bob's side of the route set) reaches bob
 * through B. Then alice calls bob: the softswitch's binding names A's core
 * address, A answers nothing, the INVITE goes to B (`softswitch.sbcPool`),
 * which finds bob's Contact and flow in Redis and his session there.
 */
import { expect, it } from 'vitest';
import type { Lab } from './lab.js';
import { describeLab } from './use-lab.js';

/** app-hmac: each message stands alone and may reach any instance (a TLS-PSK connection ends with its instance). */
const MECHS = ['--mechs', 'app-hmac;q=0.5'];
const keys: Record<string, string> = {};

describeLab('scale-out: a terminal of a dead SBC instance reached through another', ['auc', 'redis', 'ss-a', 'sbc-a', 'sbc-b', 'vip', 't1', 't2'], async (lab: Lab) => {
  lab.provisionPool();
  keys.alice = lab.provisionTerminal('alice@lab.example');
  keys.bob = lab.provisionTerminal('bob@lab.example');
  await lab.startRedis();
  await lab.start('auc', 'auc');
  await lab.start('ss-a', 'ss-a');
  await Promise.all([lab.start('sbc-a', 'sbc-a'), lab.start('sbc-b', 'sbc-b'), lab.startBalancer(['sbc-a', 'sbc-b'])]);
}, (lab) => {
  it('A killed with -9: a call up through A ends with the caller\'s BYE through B, and a new call reaches the callee through B, with no new registration', async () => {
    const l = lab();
    const vip = `${l.addr('vip')}:5060`;
    await l.balance('pin t1 sbc-b');
    await l.balance('pin t2 sbc-a');
    // one registration for the whole test (an hour's expiry; `answer` does not refresh): two calls to answer
    const bob = l.terminal('t2', 'answer', ['--id', 'bob@lab.example', '--sbc', vip, '--calls', '2', '--timeout', '110', ...MECHS], keys.bob);
    await bob.next('registered');
    const registeredAt = bob.list.filter((e) => e.event === 'registered').length;

    // a call up through both instances: alice on B, bob on A
    const first = l.terminal('t1', 'call', ['--id', 'alice@lab.example', '--to', 'bob@lab.example', '--sbc', vip, '--hold', '6', '--timeout', '60', ...MECHS], keys.alice);
    await first.next('answered', 30_000);
    await l.kill9('sbc-a');
    await l.balance('down sbc-a');
    // alice hangs up: the core sends the BYE toward A's core address, finds it silent, and B delivers it
    expect(await first.done, JSON.stringify(first.list) + first.err()).toBe(0);
    expect(first.list.find((e) => e.event === 'bye')?.status, JSON.stringify(first.list)).toBe(200);
    const firstCall = String(first.list.find((e) => e.event === 'answered')?.callId);
    expect(bob.list.some((e) => e.event === 'bye' && e.callId === firstCall && e.by === 'remote'), JSON.stringify(bob.list)).toBe(true);

    // a new call: bob's binding still names A; B reaches him without his registering again
    const second = l.terminal('t1', 'call', ['--id', 'alice@lab.example', '--to', 'bob@lab.example', '--sbc', vip, '--hold', '1', '--timeout', '40', ...MECHS], keys.alice);
    expect(await second.done, JSON.stringify(second.list) + second.err()).toBe(0);
    expect(second.list.find((e) => e.event === 'bye')?.status, JSON.stringify(second.list)).toBe(200);
    expect(await bob.done, JSON.stringify(bob.list) + bob.err()).toBe(0);
    const secondCall = String(second.list.find((e) => e.event === 'answered')?.callId);
    expect(bob.list.some((e) => e.event === 'bye' && e.callId === secondCall), JSON.stringify(bob.list)).toBe(true);
    expect(bob.list.filter((e) => e.event === 'registered').length, 'bob registered again').toBe(registeredAt);
  }, 150_000);
});
