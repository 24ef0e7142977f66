import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { s1Params } from '../../src/adapters/mgcp/params.js';
import { encodeMgcp } from '../../src/mgcp/encode.js';
import { parseMgcp } from '../../src/mgcp/parse.js';
import { param } from '../../src/mgcp/types.js';
import { udpFlood } from '../helpers/udp-flood.js';
import { IDSP, startLab, type Lab } from './lab.js';

/**
 * Overload at the MGCP SBC: while maxCorePending commands wait for the softswitch, a new
 * registration (RSIP with s1) is refused 409 "processing overload" at once (RFC 3435 §2.4)
 * instead of joining the queue; the registration already under way is finished, and the
 * refused gateway registers once the queue has drained.
 */

const IDC = 'gw1@lab.example';
let lab: Lab | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await lab?.close();
});

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

  it('an RSIP flood queued in its socket: a share of new registrations is refused 409, a registered gateway still works, and a new one registers once it is over', async () => {
    // retransmission budgets of several seconds, as real gateways' and call agents', not the lab's 0.7 s: the NTFY
    // waits behind 2,000 datagrams, and on a loaded machine even the registration's s10 can take longer than that
    const l = (lab = await startLab({ relay: { socketWaitHighMs: 50 }, timers: { maxRtoMs: 1000, maxAttempts: 10 } }));
    const a = await l.gateway({ idc: IDC, kc: l.provision(IDC) });
    expect((await a.register()).ok).toBe(true);
    const ntfy = [param('X', '0123abcd'), param('O', 'L/hd')];

    // the attacker: 40 sources, 50 new registrations each, all at once
    const flood = await udpFlood({
      port: l.sbc.port,
      sources: 40,
      perSource: 50,
      datagram: (k, i) => {
        const s1 = { idc: `flood${k}@lab.example`, idsp: IDSP, n1: randomBytes(16), ts: Math.floor(Date.now() / 1000) };
        return encodeMgcp({ kind: 'command', verb: 'RSIP', tid: i, endpoint: `*@flood${k}.lab.example`, version: '1.0', params: [param('RM', 'restart'), ...s1Params(s1)] });
      },
      final: (buf) => {
        const m = parseMgcp(buf);
        return m.ok ? m.messages.flatMap((r) => (r.kind === 'response' && r.code >= 200 ? [[r.tid, `${r.code} ${r.text}`] as [number, string]] : [])) : [];
      },
    });
    sockets.push(...flood.sockets);
    const { answers, count } = flood;
    // the registered gateway, its NTFY queued behind the flood
    const during = await a.command('NTFY', ntfy);
    expect(during.ok && during.response.code, JSON.stringify(during)).toBe(200);
    await expect.poll(() => answers.size, { timeout: 20_000, interval: 50 }).toBe(2000);
    expect(l.sbc.stats().gate.overloadedSteps).toBeGreaterThan(0);
    const overloaded = count('409 Processing overload');
    expect(overloaded).toBeGreaterThan(0);
    expect(overloaded).toBe(l.sbc.stats().counters.shed);
    expect(overloaded).toBeLessThan(2000); // a share, not all

    // calm again: the share shrinks to nothing, and a new gateway registers
    await expect.poll(() => l.sbc.stats().gate.refusedShare, { timeout: 10_000, interval: 100 }).toBe(0);
    const b = await l.gateway({ idc: 'gw2@lab.example', kc: l.provision('gw2@lab.example') });
    expect((await b.register()).ok).toBe(true);
    const after = await a.command('NTFY', ntfy);
    expect(after.ok && after.response.code).toBe(200);
  }, 40_000);
});
