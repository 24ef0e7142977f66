/**
 * The gateway relays in front of two softswitches (`sbc.softswitchMgcp`/`H248`/`H323` lists,
 * docs/scale-out.md): the first instance answers nothing at all, the second is a real one.
 * A gateway's registration goes to the first, is sent on to the second after the no-answer
 * time, and succeeds; the first is marked down in the pool the SIP side shares, and the next
 * gateway's commands go straight to the second. Commands on the core socket from an address
 * not listed are still dropped.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SoftswitchPool } from '../../src/sbc/softswitch-pool.js';
import { alignGatewayList } from '../../src/sbc/gateway-softswitches.js';
import { createUdpTransport, type SipTransport } from '../../src/sip/index.js';
import { startH248Relay } from '../../src/sbc/h248-relay.js';
import { startH248Softswitch } from '../../src/softswitch/h248-mgc.js';
import { registerH248Gateway } from '../../src/terminal/h248-gateway.js';
import { freePorts } from '../helpers/ports.js';
import { startLab as startMgcpLab } from '../mgcp/lab.js';
import { startLab as startH323Lab } from '../h323/lab.js';
import { FakeAuc as H248Auc, IDC as H248_IDC, IDSP as H248_IDSP, KC as H248_KC, KSP as H248_KSP } from '../h248/harness.js';

const DEAD = '127.0.0.2';
const STRANGER = '127.0.0.4';
const NO_ANSWER_MS = 300;

/** A softswitch that reads everything and answers nothing. */
function silentSoftswitch(): Promise<{ sock: Socket; port: number; got: Buffer[]; from: number[] }> {
  const got: Buffer[] = [];
  const from: number[] = [];
  const sock = createSocket('udp4');
  sock.on('message', (m, r) => {
    got.push(m);
    from.push(r.port);
  });
  return new Promise((resolve) => sock.bind(0, DEAD, () => resolve({ sock, port: sock.address().port, got, from })));
}

/** The SIP side's pool: two members (SIP addresses; no pings here), both up. */
async function sipPool(): Promise<{ pool: SoftswitchPool; transport: SipTransport }> {
  const transport = await createUdpTransport({ host: '127.0.0.1', port: 0 });
  return { pool: new SoftswitchPool([{ host: DEAD, port: 5070 }, { host: '127.0.0.3', port: 5070 }], transport), transport };
}

/** Does a datagram name this identity (text protocols, or an ASN.1 BMPString)? */
const names = (b: Buffer, idc: string) => b.includes(Buffer.from(idc, 'latin1')) || b.includes(Buffer.from(idc, 'utf16le').swap16());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('gateway relays with two softswitches, the first silent', () => {
  it('MGCP: the RSIP moves to the live one after the no-answer time, the dead one is marked down for SIP too, and the next gateway goes straight to the live one', async () => {
    const silent = await silentSoftswitch();
    cleanups.push(() => silent.sock.close());
    const { pool, transport } = await sipPool();
    cleanups.push(() => transport.close());
    const [ssPort] = await freePorts(1);
    const lab = await startMgcpLab({
      ss: { listen: { host: '127.0.0.1', port: ssPort! } },
      relay: { softswitch: [{ host: DEAD, port: silent.port }, { host: '127.0.0.1', port: ssPort! }], pool, noAnswerMs: NO_ANSWER_MS },
    });
    cleanups.push(() => lab.close());

    const gw = await lab.gateway({ idc: 'gw1@lab.example', kc: lab.provision('gw1@lab.example') });
    expect((await gw.register()).ok).toBe(true);
    expect(silent.got.length).toBeGreaterThanOrEqual(1);
    expect(silent.got[0]!.toString('latin1')).toMatch(/^RSIP /);
    expect(names(silent.got[0]!, 'gw1@lab.example')).toBe(true);
    expect(pool.members.map((m) => m.up)).toEqual([false, true]);
    expect(lab.sbc.stats().counters.softswitchFailovers).toBe(1);
    expect(lab.auc.registrations.map((r) => r.idc)).toContain('gw1@lab.example');

    const gw2 = await lab.gateway({ idc: 'gw2@lab.example', kc: lab.provision('gw2@lab.example') });
    expect((await gw2.register()).ok).toBe(true);
    // (the first attempt's retransmissions to the dead one may still trickle in; none names the second gateway)
    expect(silent.got.some((b) => names(b, 'gw2@lab.example'))).toBe(false);
    expect(lab.sbc.stats().counters.softswitchFailovers).toBe(1);

    // A command on the core socket from an address no softswitch has is dropped, unanswered.
    const before = lab.sbc.stats().counters.foreignCore;
    const stranger = createSocket('udp4');
    cleanups.push(() => stranger.close());
    await new Promise<void>((r) => stranger.bind(0, STRANGER, r));
    const answers: Buffer[] = [];
    stranger.on('message', (m) => answers.push(m));
    stranger.send(Buffer.from('RQNT 9001 aaln/1@gw1.lab.example MGCP 1.0\r\nX: 1\r\n'), lab.sbc.corePort, '127.0.0.1');
    await expect.poll(() => lab.sbc.stats().counters.foreignCore).toBe(before + 1);
    expect(answers).toHaveLength(0);
  });

  it('H.248: the ServiceChange moves to the live MGC, the dead one is marked down, and a second gateway registers without touching it', async () => {
    const silent = await silentSoftswitch();
    cleanups.push(() => silent.sock.close());
    const { pool, transport } = await sipPool();
    cleanups.push(() => transport.close());
    const auc = new H248Auc();
    auc.terminals.set('gw2@lab.example', randomBytes(32));
    const ss = await startH248Softswitch({ listen: { host: '127.0.0.1', port: 0 }, auc });
    cleanups.push(() => ss.close());
    const sbc = await startH248Relay({
      listen: { host: '127.0.0.1', port: 0 },
      softswitch: [{ host: DEAD, port: silent.port }, { host: '127.0.0.1', port: ss.port }],
      pool, noAnswerMs: NO_ANSWER_MS,
      sbc: { idsp: H248_IDSP, ksp: H248_KSP },
    });
    cleanups.push(() => sbc.close());

    const r = await registerH248Gateway({ idc: H248_IDC, kc: H248_KC, sbc: { host: '127.0.0.1', port: sbc.port }, local: { host: '127.0.0.1' } });
    expect(r.ok).toBe(true);
    expect(silent.got.length).toBeGreaterThanOrEqual(1);
    expect(silent.got[0]!.toString('utf8')).toMatch(/\b(SC|ServiceChange)=/);
    expect(pool.members.map((m) => m.up)).toEqual([false, true]);
    expect(sbc.stats().softswitchFailovers).toBe(1);
    expect(auc.registrations.map((x) => x.idc)).toContain(H248_IDC);

    const r2 = await registerH248Gateway({ idc: 'gw2@lab.example', kc: auc.terminals.get('gw2@lab.example')!, sbc: { host: '127.0.0.1', port: sbc.port }, local: { host: '127.0.0.1' } });
    expect(r2.ok).toBe(true);
    expect(silent.got.some((b) => names(b, 'gw2@lab.example'))).toBe(false);
    expect(sbc.stats().foreignCore).toBe(0);

    // The SBC's core socket (where the dead one was sent its ServiceChange) takes requests from no other
    // address: the same ServiceChange replayed from a stranger is answered 504 there and goes nowhere.
    const stranger = createSocket('udp4');
    cleanups.push(() => stranger.close());
    await new Promise<void>((res) => stranger.bind(0, STRANGER, res));
    const answers: string[] = [];
    stranger.on('message', (m) => answers.push(m.toString('utf8')));
    stranger.send(silent.got[0]!, silent.from[0]!, '127.0.0.1');
    await expect.poll(() => answers.length).toBeGreaterThan(0);
    // (taken, it would have been handled and sent on to the registered gateway, signed by the SBC: a Pending here first)
    expect(answers[0]).toMatch(/\b(ER|Error)=504\b/);
    expect(sbc.stats().foreignCore).toBe(1);
  });

  it('H.323: the GRQ moves to the live gatekeeper, the dead one is marked down, and a second endpoint registers without touching it', async () => {
    const silent = await silentSoftswitch();
    cleanups.push(() => silent.sock.close());
    const { pool, transport } = await sipPool();
    cleanups.push(() => transport.close());
    const [gkPort] = await freePorts(1);
    const lab = await startH323Lab({
      gk: { listen: { host: '127.0.0.1', port: gkPort! } },
      relay: { softswitch: [{ host: DEAD, port: silent.port }, { host: '127.0.0.1', port: gkPort! }], pool, noAnswerMs: NO_ANSWER_MS },
    });
    cleanups.push(() => lab.close());

    const ep = await lab.endpoint({ idc: 'ep1@lab.example', kc: lab.provision('ep1@lab.example') });
    expect((await ep.register()).ok).toBe(true);
    expect(silent.got.length).toBeGreaterThanOrEqual(1);
    expect(names(silent.got[0]!, 'ep1@lab.example')).toBe(true);
    expect(pool.members.map((m) => m.up)).toEqual([false, true]);
    expect(lab.sbc.stats().counters.softswitchFailovers).toBe(1);

    const ep2 = await lab.endpoint({ idc: 'ep2@lab.example', kc: lab.provision('ep2@lab.example') });
    expect((await ep2.register()).ok).toBe(true);
    expect(silent.got.some((b) => names(b, 'ep2@lab.example'))).toBe(false);
  });
});

describe('gateway softswitch lists against sbc.softswitch', () => {
  const sip = [{ host: '10.0.0.1', port: 5070 }, { host: '10.0.0.2', port: 5070 }];
  it('one entry per instance is kept; a missing entry is the SIP member\'s host at the first entry\'s port', () => {
    expect(alignGatewayList([{ host: '10.0.1.1', port: 2727 }, { host: '10.0.1.2', port: 2728 }], sip, 'sbc.softswitchMgcp')).toEqual([{ host: '10.0.1.1', port: 2727 }, { host: '10.0.1.2', port: 2728 }]);
    expect(alignGatewayList([{ host: '10.0.1.1', port: 2727 }], sip, 'sbc.softswitchMgcp')).toEqual([{ host: '10.0.1.1', port: 2727 }, { host: '10.0.0.2', port: 2727 }]);
  });
  it('more entries than softswitches, or none, is refused naming the setting', () => {
    expect(() => alignGatewayList([...sip, { host: '10.0.0.3', port: 1 }], sip, 'sbc.softswitchH248')).toThrow(/sbc\.softswitchH248 lists 3 addresses but sbc\.softswitch 2/);
    expect(() => alignGatewayList([], sip, 'sbc.softswitchH323')).toThrow(/sbc\.softswitchH323 must be set/);
  });
});
