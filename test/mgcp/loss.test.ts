import { afterEach, describe, expect, it } from 'vitest';
import { startLab, type Lab } from './lab.js';
import { dropFirst, lossyProxy, type LossyProxy } from './udp.js';

const IDC = 'gw1@lab.example';
let lab: Lab | undefined;
let proxy: LossyProxy | undefined;
afterEach(async () => {
  await lab?.close();
  await proxy?.close();
  lab = proxy = undefined;
});

async function eventually(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

async function lossyLab(drop: (dir: 'up' | 'down', text: string) => boolean, timers = {}): Promise<Lab> {
  return startLab({
    timers,
    sbcPort: async (port) => {
      proxy = await lossyProxy(port, drop);
      return proxy.port;
    },
  });
}

describe('MGCP over a lossy link (gateway ⇄ SBC)', () => {
  it('a lost RSIP response: the gateway retransmits, the SBC answers from its cache and the call agent sees one RSIP', async () => {
    lab = await lossyLab(dropFirst((dir, t) => dir === 'down' && t.startsWith('200 ')));
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    // The registration may finish before the RSIP transaction does: wait for its retransmission to be answered.
    await eventually(() => lab!.sbc.stats().access.duplicates >= 1);
    expect(proxy!.dropped).toHaveLength(1);
    expect(gw.stats().transport.retransmissions).toBeGreaterThanOrEqual(1);
    expect(lab.sbc.stats().access.duplicates).toBeGreaterThanOrEqual(1);
    expect(lab.ss.stats().processed.RSIP).toBe(1);
    expect(lab.sbc.stats().counters.registrationsStarted).toBe(1);
  });

  it('a lost NTFY (s7): the retransmission completes the registration and s8 reaches the call agent once', async () => {
    lab = await lossyLab(dropFirst((dir, t) => dir === 'up' && t.startsWith('NTFY ')));
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    expect(proxy!.dropped[0]!.text).toContain('X-KS-RESPONSE');
    expect(lab.ss.stats().processed.NTFY).toBe(1);
    expect(lab.auc.registrations).toHaveLength(1);
  });

  it('a lost s10 RQNT: the SBC retransmits the same bytes and the session is made once', async () => {
    lab = await lossyLab(dropFirst((dir, t) => dir === 'down' && t.includes('X-KS-MAC')));
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    expect(lab.sbc.stats().access.retransmissions).toBeGreaterThanOrEqual(1);
    expect(lab.sbc.stats().counters.registered).toBe(1);
  });

  it('a lost 200 to the s10 RQNT: the gateway answers the retransmitted RQNT from its cache, not by opening s10 again', async () => {
    let s10Tid: string | undefined;
    let lost = false;
    lab = await lossyLab((dir, t) => {
      if (dir === 'down' && t.includes('X-KS-MAC')) s10Tid = t.split(' ')[1];
      if (!lost && dir === 'up' && s10Tid !== undefined && t.startsWith(`200 ${s10Tid} `)) return (lost = true);
      return false;
    });
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    await eventually(() => gw.stats().transport.duplicates >= 1);
    expect(proxy!.dropped).toHaveLength(1);
    expect(gw.stats().rejected).toBe(0);
    expect(lab.sbc.sessions.get(IDC)).toBeDefined();
  });

  it('a slow AuC: provisional 100 on both hops, final with K:, 000 acknowledgements, still one RSIP processed', async () => {
    lab = await startLab({ timers: { provisionalAfterMs: 40, initialRtoMs: 30 } });
    const real = lab.auc.vector.bind(lab.auc);
    lab.auc.vector = async (req) => {
      await new Promise((r) => setTimeout(r, 250));
      return real(req);
    };
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    await eventually(() => gw.stats().transport.responseAcksSent >= 1 && lab!.ss.stats().transport.responseAcksIn >= 1);
    const g = gw.stats().transport;
    expect(g.provisionalIn).toBeGreaterThanOrEqual(1);
    expect(g.responseAcksSent).toBeGreaterThanOrEqual(1);
    const s = lab.sbc.stats();
    expect(s.access.provisionalSent).toBeGreaterThanOrEqual(1);
    expect(s.access.responseAcksIn).toBeGreaterThanOrEqual(1);
    expect(s.core.provisionalIn).toBeGreaterThanOrEqual(1);
    expect(lab.ss.stats().transport.responseAcksIn).toBeGreaterThanOrEqual(1);
    expect(lab.ss.stats().processed.RSIP).toBe(1);
  });
});
