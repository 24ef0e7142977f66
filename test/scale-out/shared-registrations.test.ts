/**
 * Two softswitch instances sharing location bindings through Redis
 * (`redis.url` on every role), each SBC instance in front of its own
 * softswitch, the AuC, PostgreSQL, the pool's one address: Redis stopped,
 * registrations are answered 503 with Retry-After, and work again when it
 * returns (docs/scale-out.md).
 */
import { expect, it } from 'vitest';
import type { Lab } from './lab.js';
import { describeLab } from './use-lab.js';

const keys: Record<string, string> = {};
const MECHS = ['--mechs', 'app-hmac;q=0.5'];

describeLab('scale-out: registrations shared through Redis', ['auc', 'redis', 'ss-a', 'ss-b', 'sbc-a', 'sbc-b', 'vip', 't1', 't2'], async (lab: Lab) => {
  lab.provisionPool();
  for (const who of ['alice', 'bob']) keys[who] = lab.provisionTerminal(`${who}@lab.example`);
  await lab.startRedis();
  await lab.start('auc', 'auc');
  await Promise.all([lab.start('ss-a', 'ss-a'), lab.start('ss-b', 'ss-b')]);
  await Promise.all([lab.start('sbc-a', 'sbc-a', { softswitch: 'ss-a' }), lab.start('sbc-b', 'sbc-b', { softswitch: 'ss-b' }), lab.startBalancer(['sbc-a', 'sbc-b'])]);
  // bob's host reaches SBC A (and so softswitch A), alice's SBC B (softswitch B)
  await lab.balance('pin t2 sbc-a');
  await lab.balance('pin t1 sbc-b');
  await lab.balance('trace on');
}, (lab) => {
  const vip = () => `${lab().addr('vip')}:5060`;

  it('Redis stopped: a registration is answered 503 with Retry-After, not accepted; Redis back, it registers', async () => {
    const l = lab();
    expect(await l.stop('redis')).toBe(0);
    const mark = l.trace().length;
    const refused = l.terminal('t1', 'register', ['--id', 'alice@lab.example', '--sbc', vip(), ...MECHS], keys.alice);
    expect(await refused.done, JSON.stringify(refused.list)).not.toBe(0);
    expect(refused.list[0]).toMatchObject({ ok: false, status: 503 });
    const answers = l.trace(mark).filter((t) => t.startsWith('<'));
    expect(answers.find((t) => / 503 /.test(t)), answers.join('\n')).toMatch(/\| Retry-After: \d+/);
    expect(answers.some((t) => / 200 /.test(t)), answers.join('\n')).toBe(false);

    await l.startRedis();
    // the roles reconnect on their own (backing off up to 1 s); a registration works again once they have
    let last: Record<string, unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const r = l.terminal('t1', 'register', ['--id', 'alice@lab.example', '--sbc', vip(), ...MECHS], keys.alice);
      if ((await r.done) === 0) return;
      last = r.list;
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new Error(`no registration in 10 s after Redis returned: ${JSON.stringify(last)}`);
  }, 60_000);
});
