/**
 * The softswitch's queue toward the AuC is full (overload.softswitchAucInFlight):
 * a registration step that needs one more AuC request is answered 503 with
 * Retry-After at once, on the wire, rather than queued until the AuC time-out;
 * the step already waiting is answered when its own time runs out; with the
 * AuC back, registrations go through again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatAuth, type SipResponse } from '../../src/sip/index.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, Registration, SBC, SBC_ADDR, Ua, world, type World } from './harness.js';

describeEngines('softswitch with its queue toward the AuC full', (ctx) => {
  let w: World;
  let sbc: Ua;
  beforeAll(async () => {
    w = await world(ctx, { retryAfterSec: 7, aucMaxInFlight: 1, aucTimeoutMs: 1500 });
    sbc = await Ua.udp(SBC_ADDR);
  });
  afterAll(async () => {
    await sbc.close();
    await w.close();
    await ctx.cleanup();
  });

  it('answers the step past the bound 503 Retry-After at once, before the waiting one times out; then serves again', async () => {
    const s2 = (idc: string): Promise<SipResponse> =>
      new Registration(sbc, w.ss.ports.udp!, idc).send({ headers: [['P-KS-IDSP', SBC], ['Authorization', formatAuth('KS1', { username: idc, realm: SBC })]] });
    w.auc.mode = 'hang';
    const order: string[] = [];
    const waiting = s2(ALICE).then((r) => (order.push('waiting'), r));
    // the first is at the AuC (one in flight, the bound): the next cannot be queued
    await expect.poll(() => w.auc.of('vector').length).toBe(1);
    const past = await s2('bob@lab.example').then((r) => (order.push('past'), r));
    expect(past.status).toBe(503);
    expect(past.get('Retry-After')).toBe('7');
    expect(past.localReason).toBeUndefined(); // the softswitch answered, not our own timer
    expect(w.auc.of('vector')).toHaveLength(1); // never reached the AuC
    const late = await waiting;
    expect(late.status).toBe(503); // its own AuC time-out
    expect(order).toEqual(['past', 'waiting']);
    w.auc.mode = 'up';
    expect((await s2(ALICE)).status).toBe(401);
  }, 30_000);
});
