import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { registerH248Gateway, type H248Gateway } from '../../src/terminal/h248-gateway.js';
import { gatewayOptions, IDC, keyIdOf, startLab, type Lab } from './harness.js';

const labs: Lab[] = [];
const gateways: H248Gateway[] = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.close();
  for (const l of labs.splice(0)) l.close();
});
async function lab(o?: Parameters<typeof startLab>[0]): Promise<Lab> {
  const l = await startLab(o);
  labs.push(l);
  return l;
}

async function waitFor<T>(fn: () => T | undefined, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const text = (b: Buffer) => b.toString('utf8');
const withTid = (b: Buffer, tid: number) => Buffer.from(text(b).replace(/\bT=\d+/, `T=${tid}`));

describe('H.248 registration through the SBC', () => {
  it('registers, then accepts protected messages and refuses missing, wrong and replayed headers with 402', async () => {
    const l = await lab({ access: true });
    const r = await registerH248Gateway({ ...gatewayOptions(l), keepOpen: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    gateways.push(r.gateway!);
    expect(r.idsp).toBe('sbc1.lab.example');
    expect(r.mechanism).toBe('app-hmac');
    expect(r.sessionKeyId).toBe(keyIdOf(l.auc.sessionKeys.at(-1)!));
    expect(l.sbc.sessions.get(IDC)?.protocol).toBe('h248');
    expect(l.auc.registrations.map((x) => [x.idc, x.protocol, x.mechanism])).toEqual([[IDC, 'h248', 'app-hmac']]);
    // The private E_Ksp never reaches the gateway's side.
    expect(l.access!.captured.some((c) => text(c.payload).includes('eksp'))).toBe(false);
    expect(l.access!.captured.some((c) => c.dir === 'down' && text(c.payload).includes('ks/mac='))).toBe(true);

    expect(await r.gateway!.notify('A4444', 'al/of')).toEqual({ ok: true });
    expect(l.ss.stats().commands).toBe(1);
    const sent = l.access!.captured.find((c) => c.dir === 'up' && text(c.payload).includes('al/of'))!.payload;
    expect(text(sent)).toMatch(/^AU=0x[0-9a-f]{8}:0x[0-9a-f]{8}:0x[0-9a-f]{32}\n!\/1 /);
    expect(text(sent).slice(5, 13)).toBe(r.sessionKeyId);
    // The reply came back signed and verified.
    expect(r.gateway!.stats().downlinkRejected).toBe(0);

    const refusals = () => l.access!.captured.filter((c) => c.dir === 'down' && text(c.payload).includes('ER=402'));
    const attempt = async (payload: Buffer, verdict: string) => {
      const before = refusals().length;
      l.access!.inject(payload);
      const got = await waitFor(() => refusals()[before]);
      expect(text(got.payload)).toContain(`authentication header ${verdict}`);
    };
    await attempt(sent, 'replayed');
    await attempt(Buffer.from(text(sent).replace('A4444', 'A4445').replace(/^(AU=0x[0-9a-f]{8}:)0x[0-9a-f]{8}/, '$10x000000ff')), 'bad-tag');
    await attempt(withTid(sent.subarray(sent.indexOf('!/1')), 77), 'missing');
    const hdr = text(sent);
    await attempt(Buffer.from(hdr.replace(/^AU=0x[0-9a-f]{8}/, 'AU=0x00000000')), 'wrong-spi');
    expect(l.sbc.stats().authRejected).toMatchObject({ replayed: 1, 'bad-tag': 1, missing: 1, 'wrong-spi': 1 });
    // Nothing refused reached the softswitch; the gateway still works.
    expect(l.ss.stats().commands).toBe(1);
    expect(await r.gateway!.notify('A4444', 'al/on')).toEqual({ ok: true });
    expect(l.ss.stats().commands).toBe(2);
  });

  it('a kept gateway registers again from its own socket: a new session key, and what the old one protected is refused', async () => {
    const l = await lab({ access: true });
    const r = await registerH248Gateway({ ...gatewayOptions(l), keepOpen: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const gw = r.gateway!;
    gateways.push(gw);
    expect(await gw.notify('A4444', 'al/of')).toEqual({ ok: true });
    const old = l.access!.captured.find((c) => c.dir === 'up' && text(c.payload).includes('al/of'))!.payload;

    const again = await gw.register();
    expect(again).toMatchObject({ ok: true, mechanism: 'app-hmac' });
    if (!again.ok) return;
    expect(again.sessionKeyId).not.toBe(r.sessionKeyId);
    expect(again.sessionKeyId).toBe(keyIdOf(l.auc.sessionKeys.at(-1)!));
    expect(gw.sessionKeyId).toBe(again.sessionKeyId);
    expect(l.auc.registrations.map((x) => [x.idc, x.protocol])).toEqual([[IDC, 'h248'], [IDC, 'h248']]);
    expect(gw.stats().downlinkRejected).toBe(0);
    expect(gw.port).toBe(r.gateway!.port);

    // Under the new key the gateway's commands pass; the old key's, replayed with a fresh transaction id, do not.
    expect(await gw.notify('A4444', 'al/on')).toEqual({ ok: true });
    const refusals = () => l.access!.captured.filter((c) => c.dir === 'down' && text(c.payload).includes('ER=402'));
    l.access!.inject(withTid(old, 991));
    const got = await waitFor(() => refusals()[0]);
    expect(text(got.payload)).toContain('authentication header wrong-spi');
    expect(await gw.notify('A4444', 'al/of')).toEqual({ ok: true });
  });

  it('a gateway registering again resends its s7 under the session it still has while s10 is lost: Pending, not refused', async () => {
    // The second s10 (the re-registration's) is lost once: the gateway's s7, still unanswered, is resent under the
    // old session's header while the SBC already holds the new one and waits for s10's answer.
    let s10s = 0;
    const l = await lab({ access: (dir, p) => dir === 'down' && text(p).includes('ks/mac=') && ++s10s === 2 });
    const r = await registerH248Gateway({ ...gatewayOptions(l), keepOpen: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const gw = r.gateway!;
    gateways.push(gw);

    const again = await gw.register();
    expect(again).toMatchObject({ ok: true, mechanism: 'app-hmac' });
    if (!again.ok) return;
    expect(s10s).toBeGreaterThanOrEqual(3);
    const s7s = l.access!.captured.filter((c) => c.dir === 'up' && text(c.payload).includes('ks/auth'));
    expect(s7s.length).toBeGreaterThanOrEqual(3); // the first registration's, and the second's sent again
    // The re-registration's s1 came under the old session's header, as every s7 it sent
    const spiOf = (c: { payload: Buffer }) => /^AU=(0x[0-9a-f]{8}):/.exec(text(c.payload))?.[1];
    const oldSpi = spiOf(l.access!.captured.filter((c) => c.dir === 'up' && text(c.payload).includes('X-KSN1'))[1]!);
    expect(oldSpi).toBeDefined();
    expect(s7s.slice(1).map(spiOf)).toEqual(s7s.slice(1).map(() => oldSpi));
    expect(l.sbc.stats().authRejected['wrong-spi']).toBe(0);
    expect(l.sbc.stats().access.duplicates).toBeGreaterThanOrEqual(1);
    expect(l.ss.stats().registers).toBe(2);
    expect(await gw.notify('A4444', 'al/on')).toEqual({ ok: true });

    // Once s10 is answered, the old session's header is refused again: its s7, replayed with a fresh id, is not handled.
    const refusals = () => l.access!.captured.filter((c) => c.dir === 'down' && text(c.payload).includes('ER=402'));
    l.access!.inject(withTid(s7s.at(-1)!.payload, 992));
    const got = await waitFor(() => refusals()[0]);
    expect(text(got.payload)).toContain('authentication header wrong-spi');
    expect(l.ss.stats().registers).toBe(2);
    expect(await gw.notify('A4444', 'al/of')).toEqual({ ok: true });
  });

  it('wrong key: challenged again, then auth-failed; the failures reach the AuC', async () => {
    const l = await lab();
    const r = await registerH248Gateway({ ...gatewayOptions(l), kc: Buffer.alloc(32, 0x22) });
    expect(r).toMatchObject({ ok: false, kind: 'auth-failed', code: 402 });
    expect(l.auc.failures.length).toBe(2);
    expect(l.auc.vectorCalls).toBe(3); // first challenge + one after each wrong answer
    expect(l.sbc.sessions.get(IDC)).toBeUndefined();
  });

  it('an unknown IDc is challenged and fails as a wrong key does (402, no reason on the wire), the reason only counted', async () => {
    const l = await lab();
    const r = await registerH248Gateway({ ...gatewayOptions(l), idc: 'nobody@lab.example' });
    expect(r).toMatchObject({ ok: false, kind: 'auth-failed', code: 402, message: 'authentication refused: 402' });
    expect(l.ss.stats().refused).toBe(0);
    expect(l.ss.stats().refusedIdentities).toBeGreaterThanOrEqual(1);
  });

  it('a replayed ServiceChange (same N1) is refused with 402 and not forwarded', async () => {
    const l = await lab({ access: true });
    const r = await registerH248Gateway(gatewayOptions(l));
    expect(r.ok).toBe(true);
    const s1 = l.access!.captured.find((c) => c.dir === 'up' && text(c.payload).includes('X-KSN1'))!.payload;
    const before = l.ss.stats().registers;
    l.access!.inject(withTid(s1, 4242));
    const got = await waitFor(() => l.access!.captured.find((c) => c.dir === 'down' && text(c.payload).includes('P=4242')));
    expect(text(got.payload)).toContain('ER=402{"n1-replayed"}');
    expect(l.ss.stats().registers).toBe(before);
  });

  it('lost datagrams are retransmitted; a duplicate request is answered from the reply cache, not processed twice', async () => {
    let droppedCoreReply = false;
    let droppedS1 = false;
    let droppedS10 = false;
    const l = await lab({
      access: (dir, p) => {
        if (dir === 'up' && !droppedS1 && text(p).includes('X-KSN1')) return (droppedS1 = true);
        if (dir === 'down' && !droppedS10 && text(p).includes('ks/mac=')) return (droppedS10 = true);
        return false;
      },
      core: (dir, p) => {
        if (dir === 'down' && !droppedCoreReply && text(p).includes('SC=ROOT')) return (droppedCoreReply = true);
        return false;
      },
    });
    const r = await registerH248Gateway(gatewayOptions(l));
    expect(r.ok).toBe(true);
    expect([droppedS1, droppedCoreReply, droppedS10]).toEqual([true, true, true]);
    // The SBC resent its ServiceChange; the softswitch answered the copy from its cache.
    expect(l.ss.stats().registers).toBe(1);
    expect(l.ss.stats().transport.duplicates).toBeGreaterThanOrEqual(1);
    expect(l.auc.vectorCalls).toBe(1);
    expect(l.auc.registrations.length).toBe(1);
    expect(l.sbc.stats().access.retransmissions).toBeGreaterThanOrEqual(1);
  });

  it('a slow AuC makes the SBC answer Pending; the registration still completes', async () => {
    const l = await lab({ aucDelayMs: 600 });
    const r = await registerH248Gateway({ ...gatewayOptions(l), keepOpen: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    gateways.push(r.gateway!);
    expect(r.gateway!.stats().transport.pendingReceived).toBeGreaterThanOrEqual(1);
    expect(r.gateway!.stats().transport.retransmissions).toBe(0);
  });

  it('garbage on the sockets is answered 400 or dropped and counted, never a crash', async () => {
    const l = await lab();
    const sock = createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    const answers: string[] = [];
    sock.on('message', (m) => answers.push(text(m)));
    const samples = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 300 }), 150).map((b) => Buffer.from(b));
    samples.push(Buffer.from('!/1 [127.0.0.1]:9\nT=1{C=-{'), Buffer.from('MEGACO/1 x\nT=1{C=-{N=ROOT{OE=1{ks/auth{resp=zz}}}}}'));
    for (const b of samples) {
      sock.send(b, l.sbc.port, '127.0.0.1');
      sock.send(b, l.ss.port, '127.0.0.1');
    }
    await waitFor(() => answers.filter((a) => a.includes('ER=400')).length >= 2);
    await waitFor(() => answers.some((a) => a.includes('ER=457')));
    sock.close();
    expect(l.sbc.stats().access.malformed).toBeGreaterThan(0);
    expect(l.ss.stats().transport.malformed).toBeGreaterThan(0);
    const r = await registerH248Gateway(gatewayOptions(l));
    expect(r.ok).toBe(true);
  });
});
