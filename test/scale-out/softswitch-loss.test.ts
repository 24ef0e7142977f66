/**
 * Two softswitch instances sharing Redis behind one SBC, which lists both
 * (`sbc.softswitch` = ss-a,ss-b; each softswitch names the other in
 * `softswitch.sip.peers`). Calls are set up through ss-a and terminals
 * register through it; then ss-a is killed with -9. The test counts what was
 * lost: every established call ends with a BYE answered 200 — half hung up
 * by the caller, half by the callee, each BYE carrying ss-a's Record-Route
 * and taken by ss-b — so 0 calls; registrations go on through ss-b, and
 * every registration that completed is still in Redis, so 0 registrations
 * (a callee registered through ss-a is called through ss-b afterwards).
 * Attempts in flight at ss-a when it died wait for the SBC's no-answer time
 * and go to ss-b (docs/scale-out.md). After the kill, an MGCP, an H.248 and
 * an H.323 gateway register through the same SBC: its gateway relays list
 * both softswitches too and are served by ss-b.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Lab, TermEvents } from './lab.js';
import { describeLab } from './use-lab.js';

/** Calls up when ss-a dies: the first half hung up by their callers, the rest by their callees. */
const CALLS = 4;
const LOAD = 60;
const MECHS = ['--mechs', 'app-hmac;q=0.5'];
/** The SBC's gateway ports (sbc.mgcpPort, sbc.h248Port, sbc.h323Port defaults). */
const GATEWAYS = [['mgcp', 2727], ['h248', 2944], ['h323', 1719]] as const;
const keys = new Map<string, string>();
let loadKeys = '';

const readKeys = (csv: string) => {
  for (const line of csv.split('\n').slice(1).filter(Boolean)) {
    const [idc, key] = line.split(',');
    keys.set(idc!, key!);
  }
};

describeLab('scale-out: losing a softswitch instance', ['auc', 'redis', 'ss-a', 'ss-b', 'sbc-a', 't1', 't2', 't3'], async (lab: Lab) => {
  lab.provisionPool();
  // one more pair than the calls up at the kill: a call placed after it, to a callee registered before it
  readKeys(readFileSync(lab.provisionMany(CALLS + 1, 'caller'), 'utf8'));
  readKeys(readFileSync(lab.provisionMany(CALLS + 1, 'callee'), 'utf8'));
  readKeys(readFileSync(lab.provisionMany(GATEWAYS.length, 'gw'), 'utf8'));
  loadKeys = lab.provisionMany(LOAD, 'load');
  await lab.startRedis();
  await lab.start('auc', 'auc');
  await Promise.all([lab.start('ss-a', 'ss-a'), lab.start('ss-b', 'ss-b')]);
  await lab.start('sbc-a', 'sbc-a');
}, (lab) => {
  it(`ss-a killed with -9 under ${CALLS} calls and ${LOAD} registrations: 0 calls and 0 registrations lost`, async () => {
    const l = lab();
    const sbc = `${l.addr('sbc-a')}:5060`;
    const ssA = `${l.addr('ss-a')}:5070`;
    const byCallee = (i: number) => i >= CALLS / 2;
    const callees: TermEvents[] = [];
    const callers: TermEvents[] = [];
    for (let i = 0; i <= CALLS; i++) {
      const idc = `callee${i}@lab.example`;
      const hangUp = i < CALLS && byCallee(i) ? ['--hang-up', '8'] : [];
      callees.push(l.terminal('t2', 'answer', ['--id', idc, '--sbc', sbc, '--calls', '1', '--timeout', '90', ...hangUp, ...MECHS], keys.get(idc)));
    }
    for (const c of callees) await c.next('registered');
    for (let i = 0; i < CALLS; i++) {
      const idc = `caller${i}@lab.example`;
      const hold = byCallee(i) ? '40' : '8';
      callers.push(l.terminal('t1', 'call', ['--id', idc, '--to', `callee${i}@lab.example`, '--sbc', sbc, '--hold', hold, '--timeout', '30', ...MECHS], keys.get(idc)));
    }
    const answered = await Promise.all(callers.map((c) => c.next('answered')));
    // the calls run through ss-a: its Record-Route is in every route set
    for (const a of answered) expect(JSON.stringify((a.dialog as { routeSet: string[] }).routeSet)).toContain(ssA);

    const load = l.terminal('t3', 'register', ['--keys-file', loadKeys, '--count', String(LOAD), '--rate', '15', '--sbc', sbc, '--timeout', '20', ...MECHS]);
    for (let i = 0; load.list.length < LOAD / 3; i++) {
      if (i > 300 || load.proc.exitCode !== null) throw new Error(`registration load stalled: ${JSON.stringify(load.list)} ${load.err()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const completedBefore = load.list.filter((e) => e.ok === true).map((e) => String(e.idc));
    await l.kill9('ss-a');
    const before = load.list.length;

    await load.done;
    const afterKill = load.list.slice(before).filter((e) => e.ok === true);
    // a registration lost is one that completed and whose binding is gone from Redis (loc:{<AoR>}, src/store/redis/bindings.ts)
    const completed = load.list.filter((e) => e.ok === true).map((e) => String(e.idc));
    const bindings = new Set(l.redisCli('--scan', '--pattern', 'ks:loc:{*}').split('\n'));
    const lostRegistrations = completed.filter((idc) => !bindings.has(`ks:loc:{${idc}}`));

    // a new call after the kill, to a callee registered through ss-a: ss-b finds its binding and routes it
    const late = l.terminal('t1', 'call', ['--id', `caller${CALLS}@lab.example`, '--to', `callee${CALLS}@lab.example`, '--sbc', sbc, '--hold', '1', '--timeout', '30', ...MECHS], keys.get(`caller${CALLS}@lab.example`));

    // gateways registering after the kill: the relays send to ss-b (ss-a marked down by whichever side met its silence first)
    const gateways = GATEWAYS.map(([proto, port], i) => ({
      proto,
      t: l.terminal('t3', 'register', ['--proto', proto, '--id', `gw${i}@lab.example`, '--sbc', `${l.addr('sbc-a')}:${port}`, '--timeout', '20', ...MECHS], keys.get(`gw${i}@lab.example`)),
    }));

    await Promise.all([...callers, ...callees, late, ...gateways.map((g) => g.t)].map((c) => c.done));
    const bye = (t: TermEvents, by: 'local' | 'remote') => t.list.find((e) => e.event === 'bye' && e.by === by);
    // lost: the side that hung up did not get 200 for its BYE, or the other side never got it
    const lostCalls = callers.map((caller, i) => ({ caller: caller.list, callee: callees[i]!.list })).filter((c, i) => {
      const [from, to] = byCallee(i) ? [callees[i]!, callers[i]!] : [callers[i]!, callees[i]!];
      return bye(from, 'local')?.status !== 200 || bye(to, 'remote') === undefined || c.caller.length === 0;
    });

    expect(completedBefore.length, 'registrations completed through ss-a before the kill').toBeGreaterThan(0);
    expect(before, 'registrations still to come when ss-a was killed').toBeLessThan(LOAD);
    expect(load.list).toHaveLength(LOAD);
    expect(afterKill.length, 'registrations completed through ss-b after the kill').toBeGreaterThan(0);
    expect(lostRegistrations, `registrations lost of ${completed.length} completed`).toEqual([]);
    expect(lostCalls, 'calls whose BYE did not end with 200 at both ends').toEqual([]);
    expect(bye(late, 'local')?.status, `the call placed after the kill: ${JSON.stringify(late.list)}`).toBe(200);
    for (const g of gateways) expect(g.t.list, `${g.proto} registration after the kill: ${g.t.err()}`).toMatchObject([{ ok: true, protocol: g.proto, idc: expect.stringMatching(/^gw\d@/) }]);
  }, 150_000);
});
