/**
 * Attacks on the header signing, each refused and counted while a legitimate
 * call in the same test completes (docs/design.md "SBC header signing").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { serialize, parseMessage, createResponse, type SipResponse } from '../../src/sip/index.js';
import { signSipMessage } from '../../src/adapters/sip/sbc-app-hmac.js';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
import { SIGNING_METRICS } from '../../src/sbc/signing/metrics.js';
import { startLab, type Lab } from './setup.js';
import { startAttacker, inDialogRequest, type Attacker } from './attacker.js';
import { call, callee } from './call-helpers.js';

async function metric(lab: Lab, name: string, labels: string): Promise<number> {
  const line = (await lab.sbc.metrics.render()).split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(name + ' ')));
  return line ? Number(line.split(' ').pop()) : 0;
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function lab(o: Parameters<typeof startLab>[0] = {}): Promise<Lab> {
  const l = await startLab({ route: true, ...o });
  cleanup.push(() => l.close());
  return l;
}

async function attacker(l: Lab): Promise<Attacker> {
  const a = await startAttacker(l.sbc.ports.udp!);
  cleanup.push(() => a.close());
  return a;
}

describe('forged in-dialog requests from a third party', () => {
  it('BYE and re-INVITE with a stolen, cut, extended, missing or garbled route set get 403; the call goes on', async () => {
    const l = await lab();
    const atk = await attacker(l);
    const bob = await callee(l, 'bob@lab.example', { calls: 2 });
    // Carol's own call: its route set is valid — for her dialog only.
    const carol = await call(l, 'carol@lab.example', 'bob@lab.example');
    expect(carol.code).toBe(0);
    const stolen = (carol.events.find((e) => e.event === 'answered') as { dialog: { routeSet: string[] } }).dialog.routeSet;

    const refused: Array<[string, number | undefined, string | undefined]> = [];
    const alice = await call(l, 'alice@lab.example', 'bob@lab.example', {
      holdSeconds: 0.5,
      during: async ({ callId, dialog }) => {
        const rs = dialog.routeSet;
        expect(rs.length).toBe(5); // U1, T1, softswitch, T2, U2
        expect(rs[0]).toMatch(/ks-rsa=/);
        const base = { callId, from: 'mallory@evil.example', to: 'bob@lab.example', dialog };
        const cut = rs.filter((_, i) => i !== 2);
        const inserted = [...rs.slice(0, 2), '<sip:203.0.113.66:5060;lr>', ...rs.slice(2)];
        const rsa = /ks-rsa=([^;>]+)/.exec(rs[0]!)![1]!;
        const cases: Array<[string, string]> = [
          ['stolen BYE', inDialogRequest(atk, { ...base, method: 'BYE', routes: stolen })],
          ['stolen re-INVITE', inDialogRequest(atk, { ...base, method: 'INVITE', routes: stolen })],
          ['removed hop', inDialogRequest(atk, { ...base, method: 'BYE', routes: cut })],
          ['inserted hop', inDialogRequest(atk, { ...base, method: 'BYE', routes: inserted })],
          ['no route', inDialogRequest(atk, { ...base, method: 'BYE', routes: [] })],
          ['truncated', inDialogRequest(atk, { ...base, method: 'BYE', routes: [rs[0]!.replace(rsa, rsa.slice(0, -4)), ...rs.slice(1)] })],
          ['garbage', inDialogRequest(atk, { ...base, method: 'INVITE', routes: [rs[0]!.replace(rsa, 'garbage'), ...rs.slice(1)] })],
        ];
        for (const [name, text] of cases) {
          const r = await atk.ask(text);
          refused.push([name, r?.status, r?.get('Warning')]);
        }
      },
    });
    for (const [name, status, warning] of refused) {
      expect([name, status]).toEqual([name, 403]);
      expect(warning).toMatch(/route-set signature/);
    }
    // The legitimate call completed: answered, held, hung up by alice with 200.
    expect(alice.code).toBe(0);
    expect(alice.events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(await bob.done).toBe(0);
    expect(bob.events.filter((e) => e.event === 'bye')).toHaveLength(2);
    // Counted: per check and reason, and per source.
    expect(await metric(l, SIGNING_METRICS.failures, 'check="route-set",reason="mismatch"')).toBe(4);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="route-set",reason="missing"')).toBe(1);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="route-set",reason="malformed"')).toBe(2);
    const top = l.sbc.stats().failures.top.find((t) => t.source.startsWith('127.0.0.2:'));
    expect(top?.byKind.signature).toBe(7);
    expect(l.sbc.stats().calls.routeSetRefused).toBe(7);
  });

  it('a replayed in-dialog request: refused while its key lives (not from the party), and by its signature once the key has expired (clock moved)', async () => {
    let now = Date.now();
    const clock = (): number => now;
    const l = await lab({ sbc: { clock, signing: { rotateEveryMs: 60_000, viaLifetimeMs: 60_000, rrLifetimeMs: 60_000 } } });
    const atk = await attacker(l);
    const bob = await callee(l, 'bob@lab.example', { calls: 3 });
    let captured: { callId: string; dialog: import('../../src/terminal/call.js').DialogInfo } | undefined;
    const alice = await call(l, 'alice@lab.example', 'bob@lab.example', { during: async (d) => void (captured = d) });
    expect(alice.code).toBe(0);
    const replay = () => inDialogRequest(atk, { ...captured!, method: 'BYE', from: 'mallory@evil.example', to: 'bob@lab.example' });
    // Within the key's lifetime the route set is valid, but it names alice's side: a third party is not alice.
    const early = await atk.ask(replay());
    expect(early?.status).toBe(403);
    expect(early?.get('Warning')).toMatch(/not sent by the party of this dialog/);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="dialog-party",reason="not-party"')).toBe(1);
    now += 3 * 60_000;
    const r = await atk.ask(replay());
    expect(r?.status).toBe(403);
    expect(r?.get('Warning')).toMatch(/route-set signature unknown-key/);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="route-set",reason="unknown-key"')).toBe(1);
    // The ring rotates on schedule: the expired key is gone, a new one signs.
    const before = l.sbc.signingKeys!.rr.current().id;
    expect(await l.sbc.signingKeys!.rr.maybeRotate()).toBe(true);
    expect(l.sbc.signingKeys!.rr.current().id).not.toBe(before);
    bob.done.catch(() => undefined);
  });
});

describe('answers from a terminal with altered headers', () => {
  it('a Via loop, a Via redirect to a victim, a missing Via signature and an altered Record-Route are dropped; the call completes', async () => {
    const l = await lab();
    const kd = l.provision('dave@lab.example');
    const sbcPort = l.sbc.ports.udp!;
    let dave!: SipTerminal;
    const forged: string[] = [];
    dave = new SipTerminal({
      ...l.terminal('dave@lab.example', kd), mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: sbcPort },
      onRequest: (req, ctx) => {
        if (req.method === 'ACK') return;
        const rr: Array<[string, string]> = req.getAll('Record-Route').map((x) => ['Record-Route', x]);
        if (req.method === 'INVITE') {
          const base = createResponse(req, 180, undefined, { toTag: 'dave1', headers: rr });
          const text = serialize(base).toString('latin1');
          const vias = text.split('\r\n').filter((x) => x.startsWith('Via:'));
          const variants = [
            text.replace(vias[0]! + '\r\n', vias[0]! + '\r\n' + vias[0]!.replace(/branch=[^;]+/, 'branch=z9hG4bKloop') + '\r\n'),
            text.replace(vias[vias.length - 1]!, vias[vias.length - 1]!.replace(/127\.0\.0\.1:(\d+)/, '203.0.113.66:$1')),
            text.replace(/;ks-vs=[A-Za-z0-9_.-]+/, ''),
            text.replace(/(Record-Route: <sip:[^>]*ks-rr[^>]*>)/, '$1\r\nRecord-Route: <sip:203.0.113.66;lr>'),
          ];
          for (const v of variants) {
            const m = parseMessage(Buffer.from(v, 'latin1'));
            if (!m.ok) throw new Error(m.error.reason);
            signSipMessage(m.message as SipResponse, dave.signer!);
            forged.push(v);
            void dave.securedUac.transport.send(serialize(m.message), { address: '127.0.0.1', port: sbcPort });
          }
          setTimeout(() => {
            const ok = createResponse(req, 200, undefined, { toTag: 'dave1', headers: [...rr, ['Contact', dave.contact(dave.securedUac)]] });
            signSipMessage(ok, dave.signer!);
            ctx.reply(ok);
          }, 150);
          return;
        }
        const ok = createResponse(req, 200);
        signSipMessage(ok, dave.signer!);
        ctx.reply(ok);
      },
    });
    cleanup.push(() => dave.close());
    await dave.registerKs1();
    await dave.applyMechanism();
    await dave.refresh();
    const alice = await call(l, 'alice@lab.example', 'dave@lab.example');
    expect(alice.code).toBe(0);
    expect(alice.events.map((e) => e.event)).toEqual(['registered', 'calling', 'answered', 'bye']); // no forged 180 got through
    expect(forged).toHaveLength(4);
    const s = l.sbc.stats();
    expect(s.signing.viaDropped).toBe(3);
    expect(s.calls.responsesDropped).toBe(1);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="via",reason="mismatch"')).toBe(2);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="via",reason="missing"')).toBe(1);
    expect(await metric(l, SIGNING_METRICS.failures, 'check="record-route",reason="mismatch"')).toBe(1);
  });
});

describe('the signature-failure guard', () => {
  it('blocks a flow past the threshold; its messages then go unanswered; the same address\'s other flows and others still call', async () => {
    const l = await lab({ sbc: { signing: { guard: { threshold: 3, windowMs: 1000, blockMs: 60_000 } } } });
    const atk = await attacker(l);
    const dialog = { localTag: 'x', remoteTag: 'y', remoteTarget: 'sip:bob@127.0.0.1:5999', routeSet: [`<sip:127.0.0.1:${l.sbc.ports.udp};lr;ks-rsa=AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA>`] };
    const bye = () => inDialogRequest(atk, { method: 'BYE', callId: 'c1', from: 'alice@lab.example', to: 'bob@lab.example', dialog });
    for (let i = 0; i < 3; i++) expect((await atk.ask(bye()))?.status).toBe(403);
    expect(await atk.ask(bye(), 400)).toBeUndefined();
    // the flow is blocked, not the address: a NAT's other terminals (another port of 127.0.0.2) are still read
    expect(l.sbc.stats().signing.blocked).toEqual([`127.0.0.2:${atk.port}`]);
    const neighbour = await attacker(l);
    expect((await neighbour.ask(bye()))?.status).toBe(403);
    expect(l.sbc.stats().signing.blockedDrops).toBeGreaterThanOrEqual(1);
    expect(await metric(l, SIGNING_METRICS.blocks, '')).toBe(1);
    const bob = await callee(l, 'bob@lab.example');
    const after = await call(l, 'alice@lab.example', 'bob@lab.example');
    expect(after.code, JSON.stringify(after.events)).toBe(0);
    expect(await bob.done).toBe(0);
  });
});
