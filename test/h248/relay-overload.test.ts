import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeS1 } from '../../src/adapters/h248/ks-mapping.js';
import { parseMessage } from '../../src/h248/parse.js';
import { serializeMessage } from '../../src/h248/serialize.js';
import { registerH248Gateway, type H248Gateway } from '../../src/terminal/h248-gateway.js';
import { udpFlood } from '../helpers/udp-flood.js';
import { IDSP, gatewayOptions, startLab, type Lab } from './harness.js';

/**
 * Overload at the H.248 SBC: while maxCorePending commands wait for the softswitch, a new
 * registration (s1) is refused 503 at once instead of joining the queue; the registration
 * already under way is finished, and the refused gateway registers once the queue has drained.
 */

const labs: Lab[] = [];
const gateways: H248Gateway[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
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

  it('an s1 flood queued in its socket: a share of new registrations is refused 503, a registered gateway still works, and a new one registers once it is over', async () => {
    const l = await startLab({ sbc: { socketWaitHighMs: 50 } });
    labs.push(l);
    const a = await registerH248Gateway({ ...gatewayOptions(l), keepOpen: true });
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    gateways.push(a.gateway!);
    expect(l.sbc.stats().gate.refusedShare).toBe(0);

    // the attacker: 40 sources, 50 new registrations each, all at once
    const flood = await udpFlood({
      port: l.sbc.port,
      sources: 40,
      perSource: 50,
      datagram: (k, i, port) => {
        const s1 = { idc: `flood${k}@lab.example`, idsp: IDSP, n1: randomBytes(16), ts: Math.floor(Date.now() / 1000) };
        return serializeMessage({ version: 1, mid: `[127.0.0.1]:${port}`, transactions: [{ type: 'request', id: i, actions: encodeS1(s1) }] });
      },
      final: (buf) => {
        const m = parseMessage(buf);
        return m.ok ? m.message.transactions.flatMap((t) => (t.type === 'reply' ? [[t.id, `${t.error?.code} ${t.error?.text}`] as [number, string]] : [])) : [];
      },
    });
    sockets.push(...flood.sockets);
    const { answers, count } = flood;
    // the registered gateway, its Notify queued behind the flood
    expect(await a.gateway!.notify('A4444', 'al/of')).toEqual({ ok: true });
    await expect.poll(() => answers.size, { timeout: 20_000, interval: 50 }).toBe(2000);
    expect(l.sbc.stats().gate.overloadedSteps).toBeGreaterThan(0);
    const overloaded = count('503 overloaded');
    expect(overloaded).toBeGreaterThan(0);
    expect(overloaded).toBe(l.sbc.stats().shed);
    // a share, not all: the rest went on to the softswitch, whose AuC knows no such gateway
    expect(overloaded).toBeLessThan(2000);
    expect(l.auc.vectorCalls).toBe(1 + 2000 - overloaded);

    // calm again: the share shrinks to nothing, and a new gateway registers
    await expect.poll(() => l.sbc.stats().gate.refusedShare, { timeout: 10_000, interval: 100 }).toBe(0);
    l.auc.terminals.set('gw2@lab.example', Buffer.alloc(32, 0x22));
    const b = await registerH248Gateway(gatewayOptions(l, { idc: 'gw2@lab.example', kc: Buffer.alloc(32, 0x22) }));
    expect(b.ok).toBe(true);
    expect(await a.gateway!.notify('A4444', 'al/of')).toEqual({ ok: true });
  }, 40_000);
});
