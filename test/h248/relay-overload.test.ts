import { afterEach, describe, expect, it } from 'vitest';
import { registerH248Gateway, type H248Gateway } from '../../src/terminal/h248-gateway.js';
import { gatewayOptions, startLab, type Lab } from './harness.js';

/**
 * Overload at the H.248 SBC: while maxCorePending commands wait for the softswitch, a new
 * registration (s1) is refused 503 at once instead of joining the queue; the registration
 * already under way is finished, and the refused gateway registers once the queue has drained.
 */

const labs: Lab[] = [];
const gateways: H248Gateway[] = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.close();
  for (const l of labs.splice(0)) l.close();
});

describe('H.248 SBC: overload', () => {
  it('refuses a new registration 503 while the softswitch has maxCorePending commands unanswered; the one under way completes', async () => {
    // a slow AuC keeps the first gateway's s2 waiting at the softswitch
    const l = await startLab({ aucDelayMs: 1500, sbc: { maxCorePending: 1 } });
    labs.push(l);
    const first = registerH248Gateway({ ...gatewayOptions(l), keepOpen: true });
    let firstDone = false;
    void first.then(() => (firstDone = true));
    await expect.poll(() => l.auc.vectorCalls, { timeout: 2000, interval: 10 }).toBe(1);
    // another source, while the queue toward the softswitch is full
    const second = await registerH248Gateway(gatewayOptions(l));
    expect(second).toMatchObject({ ok: false, code: 503 });
    expect(firstDone).toBe(false); // refused at once, not after the softswitch's answer
    expect(l.auc.vectorCalls).toBe(1); // it cost the AuC nothing
    expect(l.sbc.stats().shed).toBe(1);
    const r = await first;
    expect(r.ok).toBe(true);
    if (r.ok) gateways.push(r.gateway!);
    // the queue drained: the refused gateway gets through now
    const again = await registerH248Gateway(gatewayOptions(l));
    expect(again.ok).toBe(true);
    expect(l.sbc.stats().shed).toBe(1);
  }, 15_000);

  it('sheds nothing without a bound', async () => {
    const l = await startLab({ aucDelayMs: 300 });
    labs.push(l);
    const all = await Promise.all([registerH248Gateway(gatewayOptions(l)), registerH248Gateway(gatewayOptions(l))]);
    expect(all.map((r) => r.ok)).toEqual([true, true]);
    expect(l.sbc.stats().shed).toBe(0);
  }, 15_000);
});
