/**
 * Two SBC instances of one pool behind one address (the lab's balancer), one
 * softswitch, the AuC and Redis (`redis.url` on every role). SBC A is killed
 * with -9 while calls it carries are up and terminals register through it:
 * each call ends through B (the pool's route-set signature checked there, the
 * caller's session read from Redis), registrations go on through B, and every
 * registration that completed, through A or B, is still there for B to use.
 * The test counts what was lost: 0 calls and 0 registrations
 * (docs/scale-out.md).
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Lab, TermEvents } from './lab.js';
import { describeLab } from './use-lab.js';

const CALLS = 3;
const LOAD = 60;
/** app-hmac: each message stands alone and may reach any instance (a TLS-PSK connection ends with its instance). */
const MECHS = ['--mechs', 'app-hmac;q=0.5'];
const keys = new Map<string, string>();
let loadKeys = '';

const csvKeys = (file: string) => {
  for (const line of readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean)) {
    const [idc, key] = line.split(',');
    keys.set(idc!, key!);
  }
};

describeLab('scale-out: SBC state shared through Redis', ['auc', 'redis', 'ss-a', 'sbc-a', 'sbc-b', 'vip', 't1', 't2', 't3'], async (lab: Lab) => {
  lab.provisionPool();
  csvKeys(lab.provisionMany(CALLS, 'caller'));
  csvKeys(lab.provisionMany(CALLS, 'callee'));
  loadKeys = lab.provisionMany(LOAD, 'load');
  await lab.startRedis();
  await lab.start('auc', 'auc');
  await lab.start('ss-a', 'ss-a');
  await Promise.all([lab.start('sbc-a', 'sbc-a'), lab.start('sbc-b', 'sbc-b'), lab.startBalancer(['sbc-a', 'sbc-b'])]);
}, (lab) => {
  it(`SBC A killed with -9 under ${CALLS} calls and ${LOAD} registrations: 0 calls and 0 registrations lost`, async () => {
    const l = lab();
    const vip = `${l.addr('vip')}:5060`;
    // callers and the registration load on A, callees on B
    await l.balance('pin t1 sbc-a');
    await l.balance('pin t2 sbc-b');
    await l.balance('pin t3 sbc-a');
    const callees: TermEvents[] = [];
    const callers: TermEvents[] = [];
    for (let i = 0; i < CALLS; i++) {
      const idc = `callee${i}@lab.example`;
      callees.push(l.terminal('t2', 'answer', ['--id', idc, '--sbc', vip, '--calls', '1', '--timeout', '60', ...MECHS], keys.get(idc)));
    }
    for (const c of callees) await c.next('registered');
    for (let i = 0; i < CALLS; i++) {
      const idc = `caller${i}@lab.example`;
      callers.push(l.terminal('t1', 'call', ['--id', idc, '--to', `callee${i}@lab.example`, '--sbc', vip, '--hold', '8', '--timeout', '30', ...MECHS], keys.get(idc)));
    }
    for (const c of callers) await c.next('answered');
    const load = l.terminal('t3', 'register', ['--keys-file', loadKeys, '--count', String(LOAD), '--rate', '15', '--sbc', vip, '--timeout', '20', ...MECHS]);
    for (let i = 0; load.list.length < LOAD / 3; i++) {
      if (i > 300 || load.proc.exitCode !== null) throw new Error(`registration load stalled: ${JSON.stringify(load.list)} ${load.err()}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    await l.kill9('sbc-a');
    await l.balance('down sbc-a');
    const before = load.list.length;

    await load.done;
    // a registration lost is one that completed and is gone: its session (sealed Kc,sp) no longer in Redis for B to use.
    // Attempts in flight at A when it died may fail; their terminals register again, as after any lost answer.
    const completed = load.list.filter((e) => e.ok === true).map((e) => String(e.idc));
    const sessions = l.redisCli('--scan', '--pattern', 'ks:sbc:reg:*').split('\n');
    const lostRegistrations = completed.filter((idc) => !sessions.some((k) => k.endsWith(`|${idc}}`)));
    const afterKill = load.list.slice(before).filter((e) => e.ok === true);
    await Promise.all([...callers, ...callees].map((c) => c.done));
    const lostCalls = callers.filter((c) => c.list.find((e) => e.event === 'bye')?.status !== 200);
    const calleesWithoutBye = callees.filter((c) => !c.list.some((e) => e.event === 'bye'));

    expect(before, 'registrations still to come when A was killed').toBeLessThan(LOAD);
    expect(load.list).toHaveLength(LOAD);
    expect(afterKill.length, 'registrations completed through B after the kill').toBeGreaterThan(0);
    expect(lostRegistrations, `registrations lost of ${completed.length} completed`).toEqual([]);
    expect(lostCalls.map((c) => c.list), 'calls whose BYE did not end with 200').toEqual([]);
    expect(calleesWithoutBye.map((c) => c.list), 'callees the BYE did not reach').toEqual([]);
  }, 120_000);
});
