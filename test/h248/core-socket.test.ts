import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMessage, parseMessages } from '../../src/h248/index.js';
import { registerH248Gateway, type H248Gateway } from '../../src/terminal/h248-gateway.js';
import { gatewayOptions, startLab, type Lab } from './harness.js';

/**
 * The SBC speaks to the softswitch from one socket, each message under the name of the gateway it is about
 * (its source address as the SBC receives it): docs/h248.md, "One core socket".
 */

let lab: Lab | undefined;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  lab?.close();
  lab = undefined;
});

const text = (b: Buffer) => b.toString('utf8');
const nameOf = (g: H248Gateway) => `[127.0.0.1]:${g.port}`;

async function registerMany(l: Lab, n: number): Promise<H248Gateway[]> {
  const idcs = Array.from({ length: n }, (_, i) => `gw-many-${i}@lab.example`);
  for (const idc of idcs) l.auc.terminals.set(idc, randomBytes(32));
  const rs = await Promise.all(idcs.map((idc) => registerH248Gateway({ ...gatewayOptions(l), idc, kc: l.auc.terminals.get(idc)!, keepOpen: true })));
  const gws = rs.map((r) => {
    if (!r.ok || !r.gateway) throw new Error(`registration failed: ${r.ok ? 'no gateway' : r.message}`);
    return r.gateway;
  });
  cleanups.push(() => gws.forEach((g) => g.close()));
  return gws;
}

async function udp(): Promise<{ sock: Socket; port: number; got: Buffer[] }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  cleanups.push(() => sock.close());
  return { sock, port: sock.address().port, got };
}

describe('H.248 SBC: one core socket, each gateway named by its source address', () => {
  it("gateways registering at once share the SBC's core socket and its datagrams; the softswitch knows each by its address", async () => {
    lab = await startLab({ core: true });
    const gws = await registerMany(lab, 8);
    // one socket toward the softswitch (it was one per gateway)
    expect(lab.core!.clients()).toHaveLength(1);
    // the softswitch holds each gateway under the address the SBC received it from, never a name the gateway chose
    expect(lab.ss.registered().map((p) => p.mid).sort()).toEqual(gws.map(nameOf).sort());
    // several gateways' messages left in one datagram, each message under one gateway's name
    const up = lab.core!.captured.filter((c) => c.dir === 'up').map((c) => parseMessages(c.payload, 16));
    for (const r of up) expect(r.ok).toBe(true);
    const shared = up.filter((r) => r.ok && new Set(r.messages.map((m) => m.mid)).size > 1);
    expect(shared.length).toBeGreaterThan(0);
    // and both ways the datagrams were fewer than the messages
    const messages = lab.core!.captured.reduce((n, c) => n + (parseMessages(c.payload, 16) as { messages: unknown[] }).messages.length, 0);
    expect(lab.core!.captured.length).toBeLessThan(messages);
    // each gateway's protected Notify still reaches the softswitch from it alone
    for (const g of gws) expect(await g.notify('A4444', 'al/of')).toEqual({ ok: true });
    expect(lab.ss.stats().commands).toBe(gws.length);
  });

  it("a gateway cannot speak for another: an mId naming another gateway is the sender's own address on the core leg", async () => {
    lab = await startLab({ core: true });
    const [victim] = await registerMany(lab, 1);
    const attacker = await udp();
    const before = lab.ss.stats().commands;
    // an unsigned command under the victim's core name, from another address: refused as not registered, not sent on
    const forged = `!/1 ${nameOf(victim!)}\nT=77{C=-{N=A4444{OE=1{al/of}}}}\n`;
    attacker.sock.send(forged, lab.target.port, '127.0.0.1');
    await expect.poll(() => attacker.got.length).toBeGreaterThan(0);
    expect(text(attacker.got[0]!)).toMatch(/\b(ER|Error)=402\b/);
    // a registration under the victim's name reaches the softswitch under the attacker's address
    lab.auc.terminals.set('gw-attacker@lab.example', randomBytes(32));
    const r = await registerH248Gateway({ ...gatewayOptions(lab), idc: 'gw-attacker@lab.example', kc: lab.auc.terminals.get('gw-attacker@lab.example')!, mid: nameOf(victim!), keepOpen: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    cleanups.push(() => r.gateway!.close());
    const s2 = lab.core!.captured.filter((c) => c.dir === 'up' && text(c.payload).includes('gw-attacker@lab.example'));
    expect(s2.length).toBeGreaterThan(0);
    for (const c of s2) {
      const m = parseMessages(c.payload, 16);
      expect(m.ok && m.messages.map((x) => x.mid)).toEqual([nameOf(r.gateway!)]);
    }
    expect(lab.ss.registered().map((p) => p.mid).sort()).toEqual([nameOf(victim!), nameOf(r.gateway!)].sort());
    // the victim still works, and the forged command never reached the softswitch
    expect(await victim!.notify('A4444', 'al/of')).toEqual({ ok: true });
    expect(lab.ss.stats().commands).toBe(before + 1);
  });

  it("the softswitch's commands reach only the gateway they name; a name the SBC does not know, or a stranger, gets 504 and nothing is sent on", async () => {
    lab = await startLab({ core: true });
    const [a, b] = await registerMany(lab, 2);
    // a command for gateway a, from the softswitch's address: a handles it, b sees nothing
    const seenBy = () => [a!.stats().requestsHandled, b!.stats().requestsHandled];
    lab.core!.injectDown(Buffer.from(`!/1 ${nameOf(a!)}\nT=900{C=-{MF=A1{M{ST=1{}}}}}\n`));
    await expect.poll(seenBy).toEqual([1, 0]);
    // the gateway's reply comes back to the softswitch's address under a's name
    await expect.poll(() => lab!.core!.captured.filter((c) => c.dir === 'up' && /\bP=900\b/.test(text(c.payload))).length).toBe(1);
    const reply = lab.core!.captured.find((c) => c.dir === 'up' && /\bP=900\b/.test(text(c.payload)))!;
    const rm = parseMessages(reply.payload, 16);
    expect(rm.ok && rm.messages.find((m) => m.transactions.some((t) => t.type === 'reply' && t.id === 900))?.mid).toBe(nameOf(a!));
    // a name no gateway has: 504 back to the softswitch's address, no gateway gets anything
    const stats0 = lab.sbc.stats().unknownGateway;
    lab.core!.injectDown(Buffer.from(`!/1 [127.0.0.1]:9\nT=901{C=-{MF=A1{M{ST=1{}}}}}\n`));
    await expect.poll(() => lab!.sbc.stats().unknownGateway).toBe(stats0 + 1);
    await expect.poll(() => lab!.core!.captured.some((c) => c.dir === 'up' && /\bP=901\b/.test(text(c.payload)) && /\b(ER|Error)=504\b/.test(text(c.payload)))).toBe(true);
    // the same command for a, two messages in one datagram, from a stranger: each refused 504 to the stranger, nothing sent on
    const stranger = await udp();
    const coreSbc = lab.core!.clients()[0]!;
    const both = Buffer.from(`!/1 ${nameOf(a!)}\nT=902{C=-{MF=A1{M{ST=1{}}}}}\n!/1 ${nameOf(b!)}\nT=903{C=-{MF=A1{M{ST=1{}}}}}\n`);
    stranger.sock.send(both, Number(coreSbc.slice(coreSbc.lastIndexOf(':') + 1)), '127.0.0.1');
    await expect.poll(() => stranger.got.length).toBe(2);
    for (const g of stranger.got) expect(text(g)).toMatch(/\b(ER|Error)=504\b/);
    expect(lab.sbc.stats().foreignCore).toBe(2);
    expect(seenBy()).toEqual([1, 0]);
  });

  it('the access leg stays one message per datagram: two messages in one datagram from a gateway are refused as malformed', async () => {
    lab = await startLab();
    const g = await udp();
    const two = `!/1 [127.0.0.1]:${g.port}\nT=1{C=-{N=A1{OE=1{al/of}}}}\n!/1 [127.0.0.1]:${g.port}\nT=2{C=-{N=A1{OE=1{al/of}}}}\n`;
    expect(parseMessage(Buffer.from(two)).ok).toBe(false);
    g.sock.send(two, lab.target.port, '127.0.0.1');
    await expect.poll(() => g.got.length).toBe(1);
    expect(text(g.got[0]!)).toMatch(/\b(ER|Error)=400\b/);
    expect(lab.sbc.stats().access.malformed).toBe(1);
  });
});
