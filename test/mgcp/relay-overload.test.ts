import { afterEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from './lab.js';

/**
 * Overload at the MGCP SBC: while maxCorePending commands wait for the softswitch, a new
 * registration (RSIP with s1) is refused 409 "processing overload" at once (RFC 3435 §2.4)
 * instead of joining the queue; the registration already under way is finished, and the
 * refused gateway registers once the queue has drained.
 */

const IDC = 'gw1@lab.example';
let lab: Lab | undefined;
afterEach(async () => lab?.close());

/** The AuC answers vectors `ms` late: the softswitch holds the first gateway's s2 that long. */
function slowVectors(l: Lab, ms: number): { calls: () => number } {
  const vector = l.auc.vector.bind(l.auc);
  let calls = 0;
  l.auc.vector = async (...a: Parameters<typeof vector>) => {
    calls++;
    await new Promise((r) => setTimeout(r, ms));
    return vector(...a);
  };
  return { calls: () => calls };
}

describe('MGCP SBC: overload', () => {
  it('refuses a new registration 409 while the softswitch has maxCorePending commands unanswered; the one under way completes', async () => {
    // retransmissions toward the softswitch for ~2.5 s, so that the slow answer below is waited for
    const l = (lab = await startLab({ relay: { maxCorePending: 1 }, timers: { maxAttempts: 14 } }));
    const kc = l.provision(IDC);
    const slow = slowVectors(l, 1200);
    const a = await l.gateway({ idc: IDC, kc });
    const b = await l.gateway({ idc: IDC, kc });
    const first = a.register();
    let firstDone = false;
    void first.then(() => (firstDone = true));
    await expect.poll(slow.calls, { timeout: 2000, interval: 10 }).toBe(1);
    // another gateway (another source) while the queue toward the softswitch is full
    const second = await b.register();
    expect(second).toMatchObject({ ok: false });
    expect(JSON.stringify(second)).toContain('409');
    expect(firstDone).toBe(false); // refused at once, not after the softswitch's answer
    expect(slow.calls()).toBe(1); // it cost the AuC nothing
    expect(l.sbc.stats().counters.shed).toBe(1);
    const r = await first;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    // the queue drained: the refused gateway gets through now
    expect(await b.register()).toMatchObject({ ok: true });
    expect(l.sbc.stats().counters.shed).toBe(1);
  }, 15_000);
});
