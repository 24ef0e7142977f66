/**
 * A subscriber who registers another terminal's Contact: the core reaches a
 * terminal by its Contact, so if the SBC let mallory's registration take
 * bob's Contact over, bob's calls would ring at mallory. Refused 403 (and
 * counted against mallory's flow); bob still gets his calls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SipTerminal, SipTerminalError } from '../../src/terminal/sip-terminal.js';
import { startLab, type Lab } from './setup.js';
import { call, callee } from './call-helpers.js';
import { rawTerminal } from './raw.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('a Contact registered by another subscriber', () => {
  it("mallory, authenticated as herself, registering bob's Contact is refused 403; bob's call still reaches bob", async () => {
    const l: Lab = await startLab({ route: true });
    cleanup.push(() => l.close());
    const bob = await callee(l, 'bob@lab.example', { calls: 1 });
    const bobContact = l.core.locations.get('bob@lab.example')!.contact;
    expect(bobContact).toMatch(/^sip:bob@127\.0\.0\.1:\d+/);

    const kc = l.provision('mallory@lab.example');
    const mallory = new SipTerminal(l.terminal('mallory@lab.example', kc, { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: l.sbc.ports.udp! }, contact: bobContact }));
    cleanup.push(() => mallory.close());
    const err = await mallory.registerKs1().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SipTerminalError);
    expect((err as SipTerminalError).status).toBe(403);
    expect(l.core.locations.has('mallory@lab.example')).toBe(false);
    // counted against the flow she sent from, as a forbidden request
    expect(l.sbc.stats().failures.totals.forbidden).toBe(1);
    const counted = l.sbc.stats().failures.top;
    expect(counted).toEqual([expect.objectContaining({ byKind: { forbidden: 1 } })]);
    expect(bobContact).not.toContain(counted[0]!.source); // her flow, not bob's

    // her own Contact is fine
    const honest = new SipTerminal(l.terminal('mallory@lab.example', kc, { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: l.sbc.ports.udp! } }));
    cleanup.push(() => honest.close());
    await expect(honest.registerKs1()).resolves.toMatchObject({ idsp: 'sbc1.lab.example' });

    const alice = await call(l, 'alice@lab.example', 'bob@lab.example', { holdSeconds: 0.2 });
    expect(alice.code, JSON.stringify(alice.events)).toBe(0);
    expect(await bob.done).toBe(0);
    expect(bob.events.map((e) => e.event)).toContain('incoming');
  }, 30_000);

  it("the same at s7: mallory's s1 names her own Contact, her s7 adds bob's: 403, never sent on; bob's call still reaches bob", async () => {
    const l: Lab = await startLab({ route: true });
    cleanup.push(() => l.close());
    const bob = await callee(l, 'bob@lab.example', { calls: 1 });
    const bobContact = l.core.locations.get('bob@lab.example')!.contact;
    const kc = l.provision('mallory@lab.example');
    const raw = await rawTerminal(l, 'mallory@lab.example', kc);
    cleanup.push(() => raw.close());
    const { s7 } = await raw.challenge();
    const res = await raw.register([...raw.s7Headers(s7), ['Contact', `<${bobContact}>`]]);
    expect(res.status).toBe(403);
    // the s7 never reached the core: no REGISTER there names bob's Contact but bob's own
    const naming = l.core.seen.filter((r) => r.method === 'REGISTER' && r.getAll('Contact').some((c) => c.includes(bobContact)));
    expect(naming.length).toBeGreaterThan(0);
    expect(naming.map((r) => r.get('To'))).toEqual(naming.map(() => expect.stringContaining('bob@lab.example')));
    expect(l.core.locations.get('bob@lab.example')!.contact).toBe(bobContact);
    const alice = await call(l, 'alice@lab.example', 'bob@lab.example', { holdSeconds: 0.1 });
    expect(alice.code, JSON.stringify(alice.events)).toBe(0);
    expect(await bob.done).toBe(0);
  }, 30_000);

  it("in a refresh: mallory, registered under app-hmac with her own Contact, refreshes with bob's, correctly MAC'd: 403, never sent on; her own refresh still works, bob's call still reaches bob", async () => {
    const l: Lab = await startLab({ route: true });
    cleanup.push(() => l.close());
    const bob = await callee(l, 'bob@lab.example', { calls: 1 });
    const bobContact = l.core.locations.get('bob@lab.example')!.contact;

    const kc = l.provision('mallory@lab.example');
    const mallory = new SipTerminal(l.terminal('mallory@lab.example', kc, { mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: l.sbc.ports.udp! } }));
    cleanup.push(() => mallory.close());
    await mallory.registerKs1();
    await mallory.applyMechanism();
    await mallory.refresh();
    const malloryContact = l.core.locations.get('mallory@lab.example')!.contact;
    expect(malloryContact).not.toBe(bobContact);
    expect(l.sbc.stats().failures.totals.forbidden ?? 0).toBe(0);

    // her registration dialog, her session's next KS-HMAC: only the Contact is bob's
    const uac = mallory.securedUac;
    const res = await uac.send({
      method: 'REGISTER', requestUri: 'sip:lab.example', aor: 'mallory@lab.example', callId: mallory.callId, cseq: ++mallory.cseq, fromTag: mallory.fromTag,
      headers: [['Contact', `<${bobContact}>`], ['Expires', '3600']], signer: mallory.signer!,
    });
    expect(res.status).toBe(403);
    expect(l.sbc.stats().failures.totals.forbidden).toBe(1);
    expect(l.sbc.stats().failures.top).toEqual([expect.objectContaining({ source: `127.0.0.1:${uac.transport.port}`, byKind: { forbidden: 1 } })]);
    const toCore = l.core.seen.filter((r) => r.method === 'REGISTER' && (r.get('To') ?? '').includes('mallory@') && r.getAll('Contact').some((c) => c.includes(bobContact)));
    expect(toCore).toEqual([]);
    expect(l.core.locations.get('mallory@lab.example')!.contact).toBe(malloryContact);
    expect(l.core.locations.get('bob@lab.example')!.contact).toBe(bobContact);

    // her own Contact refreshes as before, under the same session
    await expect(mallory.refresh()).resolves.toMatchObject({ status: 200 });

    const alice = await call(l, 'alice@lab.example', 'bob@lab.example', { holdSeconds: 0.1 });
    expect(alice.code, JSON.stringify(alice.events)).toBe(0);
    expect(await bob.done).toBe(0);
    expect(bob.events.map((e) => e.event)).toContain('incoming');
  }, 30_000);
});
