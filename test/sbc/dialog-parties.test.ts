/**
 * Who may speak in a dialog (docs/sbc-calls.md; issue 8, item 2), piece by
 * piece: identities compared as SIP URIs, the party text, the local dialog
 * table, the SBC's check under each mechanism and with signing off, and the
 * softswitch's check of the SBC's assertion.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseUri } from '../../src/sip/index.js';
import { canonicalIdentity, identityOfUri, sameIdentity } from '../../src/sip/uri-compare.js';
import { DialogTable, flowOf, flowParty, ks1Party, parseParty, partyText } from '../../src/sbc/dialogs.js';
import { SIGNING_METRICS } from '../../src/sbc/signing/metrics.js';
import { makeContext } from '../helpers/engines.js';
import { ALICE, SBC, SBC_ADDR, world, type World } from '../softswitch/harness.js';
import { Phone } from '../softswitch/calls-phone.js';
import { startLab, type Lab } from './setup.js';
import { startAttacker, inDialogRequest, type Attacker } from './attacker.js';
import { call, callee } from './call-helpers.js';

describe('identities compared as SIP URIs (RFC 3261 §19.1.4)', () => {
  it('host case-insensitive, user case-sensitive and unescaped, IPv6 in brackets', () => {
    expect(identityOfUri(parseUri('sip:alice@LAB.Example;transport=tcp'))).toBe('alice@lab.example');
    expect(identityOfUri(parseUri('sips:%61lice@lab.example:5061'))).toBe('alice@lab.example');
    expect(identityOfUri(parseUri('sip:Alice@lab.example'))).toBe('Alice@lab.example');
    expect(identityOfUri(parseUri('sip:1000@[2001:DB8::1]'))).toBe('1000@[2001:db8::1]');
    expect(identityOfUri(parseUri('sip:LAB.example'))).toBe('lab.example');
    expect(identityOfUri(parseUri('tel:+15551234'))).toBeUndefined();
    expect(canonicalIdentity('alice@LAB.EXAMPLE')).toBe('alice@lab.example');
    expect(canonicalIdentity('1000@2001:DB8::1')).toBe('1000@[2001:db8::1]');
    expect(canonicalIdentity('a@b@LAB.EXAMPLE')).toBe('a@b@lab.example');
    expect(sameIdentity('alice@LAB.EXAMPLE', 'alice@lab.example')).toBe(true);
    expect(sameIdentity('1000@[::1]', '1000@::1')).toBe(true);
    expect(sameIdentity('Alice@lab.example', 'alice@lab.example')).toBe(false);
    expect(sameIdentity('alice@lab.example', 'alice@lab.example.evil')).toBe(false);
    expect(sameIdentity(undefined, undefined)).toBe(false);
  });
});

describe('the party of a dialog side', () => {
  it('has one text form, which parses back; anything else does not parse', () => {
    const k = ks1Party('alice@LAB.EXAMPLE');
    expect(k).toEqual({ idc: 'alice@lab.example' });
    expect(partyText(k)).toBe('ks1 alice@lab.example');
    const f = flowParty('1000@127.0.0.1', { protocol: 'udp', address: '::ffff:192.0.2.7', port: 5062 });
    expect(partyText(f)).toBe('flow udp 192.0.2.7 5062 1000@127.0.0.1');
    for (const p of [k, f, flowParty('o brien@lab.example', { protocol: 'tls', address: '2001:db8::1', port: 1 })]) expect(parseParty(partyText(p))).toEqual(p);
    for (const bad of ['', 'ks1 ', 'ks1', 'flow udp 1.2.3.4 0 a@b', 'flow udp 1.2.3.4 65536 a@b', 'flow sctp 1.2.3.4 5060 a@b', 'flow udp host.example 5060 a@b', 'ks1 a\nb', 'KS1 a@b']) {
      expect(parseParty(bad), bad).toBeUndefined();
    }
    expect(flowOf({ protocol: 'tcp', address: '2001:DB8::1', port: 7 })).toEqual({ protocol: 'tcp', address: '2001:db8::1', port: 7 });
  });

  it('the dialog table keeps both parties of a call through both legs and names the sender\'s', () => {
    const t = new DialogTable();
    const alice = ks1Party('alice@lab.example');
    const phone = flowParty('1000@127.0.0.1', { protocol: 'udp', address: '127.0.0.1', port: 5062 });
    expect(t.open({ callId: 'c', callerTag: 'a', calleeTag: 'b', direction: 'outbound', caller: alice })).toBe(true);
    expect(t.open({ callId: 'c', callerTag: 'a', calleeTag: 'b', direction: 'inbound', callee: phone })).toBe(false);
    expect(t.partyOf('c', 'a', 'b')).toEqual(alice);
    expect(t.partyOf('c', 'b', 'a')).toEqual(phone);
    expect(t.partyOf('c', 'a', 'x')).toBeUndefined();
    expect(t.partyOf('other', 'a', 'b')).toBeUndefined();
    expect(t.stats()).toEqual({ active: 1, started: 1, ended: 0 });
  });
});

describe('the SBC lets only the party of a side speak in a dialog', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const lab = async (o: Parameters<typeof startLab>[0] = {}): Promise<Lab> => {
    const l = await startLab({ route: true, ...o });
    cleanup.push(() => l.close());
    return l;
  };
  const attacker = async (l: Lab, host = '127.0.0.2'): Promise<Attacker> => {
    const a = await startAttacker(l.sbc.ports.udp!, host);
    cleanup.push(() => a.close());
    return a;
  };

  for (const mech of ['app-hmac', 'tls-psk', 'tls'] as const) {
    it(`under ${mech}: BYE and UPDATE built from either side's view get 403 whatever the From; the call ends with the caller's BYE`, async () => {
      const l = await lab();
      // one source per view: the guard blocks a source after 10 failures in a second
      const atks = [await attacker(l), await attacker(l, '127.0.0.3')];
      const mechs = `${mech};q=0.9`;
      const bob = await callee(l, 'bob@lab.example', { mechs });
      const answers: Array<[string, number | undefined, string | undefined]> = [];
      const alice = await call(l, 'alice@lab.example', 'bob@lab.example', {
        mechs,
        holdSeconds: 0.2,
        during: async ({ callId, dialog }) => {
          const incoming = bob.events.find((e) => e.event === 'incoming') as { dialog: typeof dialog };
          const views = [
            { dialog, self: 'alice', peer: 'bob@lab.example' },
            { dialog: incoming.dialog, self: 'bob', peer: 'alice@lab.example' },
          ];
          for (const [i, v] of views.entries()) {
            const atk = atks[i]!;
            for (const from of [`${v.self}@LAB.EXAMPLE`, 'mallory@evil.example', `${v.self}@lab.example`]) {
              for (const method of ['BYE', 'UPDATE']) {
                const r = await atk.ask(inDialogRequest(atk, { method, callId, from, to: v.peer, dialog: v.dialog }));
                answers.push([`${method} as ${from}`, r?.status, r?.get('Warning')]);
              }
            }
          }
        },
      });
      for (const [name, status, warning] of answers) {
        expect([name, status]).toEqual([name, 403]);
        expect(warning).toMatch(/not sent by the party of this dialog/);
      }
      expect(alice.code).toBe(0);
      expect(alice.events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
      expect(await bob.done).toBe(0);
      expect(bob.events.filter((e) => e.event === 'bye' || e.event === 'request')).toHaveLength(1);
      expect(l.sbc.stats().calls.notParty).toBe(12);
      expect(l.sbc.stats().calls.routeSetRefused).toBe(0);
      const line = (await l.sbc.metrics.render()).split('\n').find((x) => x.startsWith(`${SIGNING_METRICS.failures}{check="dialog-party",reason="not-party"}`));
      expect(line?.split(' ').pop()).toBe('12');
    });
  }

  it('out of a dialog, a From whose host differs only in case is the registered terminal: without its mechanism, 403', async () => {
    const l = await lab();
    const atk = await attacker(l);
    const bob = await callee(l, 'bob@lab.example');
    const r = await atk.ask(inDialogRequest(atk, {
      method: 'INVITE', callId: 'fresh-1', from: 'bob@LAB.EXAMPLE', to: 'alice@lab.example',
      dialog: { localTag: 't1', remoteTag: '', remoteTarget: 'sip:alice@lab.example', routeSet: [] },
    }).replace(/^To: (.*);tag=\r$/m, 'To: $1\r'));
    expect(r?.status).toBe(403);
    expect(r?.get('Warning')).toMatch(/KS-HMAC missing/);
    // bob himself still calls and is called
    const after = await call(l, 'carol@lab.example', 'bob@lab.example');
    expect(after.code, JSON.stringify(after.events)).toBe(0);
    expect(await bob.done).toBe(0);
  });

  it('with signing off the local dialog record names the parties: a forged BYE gets 403, an unknown dialog too; the call completes', async () => {
    const l = await lab({ sbc: { signing: { enabled: false } } });
    const atk = await attacker(l);
    const bob = await callee(l, 'bob@lab.example');
    const seen: Array<[number | undefined, string | undefined]> = [];
    const alice = await call(l, 'alice@lab.example', 'bob@lab.example', {
      holdSeconds: 0.2,
      during: async ({ callId, dialog }) => {
        for (const d of [dialog, { ...dialog, remoteTag: 'not-the-tag' }]) {
          const r = await atk.ask(inDialogRequest(atk, { method: 'BYE', callId, from: 'alice@LAB.EXAMPLE', to: 'bob@lab.example', dialog: d }));
          seen.push([r?.status, r?.get('Warning')]);
        }
      },
    });
    expect(seen[0]).toEqual([403, expect.stringMatching(/not sent by the party of this dialog/)]);
    expect(seen[1]).toEqual([403, expect.stringMatching(/no such dialog here/)]);
    expect(alice.code).toBe(0);
    expect(alice.events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(await bob.done).toBe(0);
    expect(l.sbc.stats().calls.dialogs).toBe(0);
  });
});

describe('the softswitch lets an in-dialog request from the SBC through only for a party of the dialog', () => {
  const ctx = makeContext('sqlite');
  let w: World;
  let bob: Phone;
  let sbc: Phone;
  let ss: { address: string; port: number };
  beforeAll(async () => {
    w = await world(ctx);
    ss = { address: '127.0.0.1', port: w.ss.ports.udp! };
    bob = await Phone.open('bob@lab.example', ss);
    expect((await bob.register()).status).toBe(200);
    // the fake SBC (trusted, signing the core link) stands in for SBC + alice
    sbc = await Phone.open(ALICE, ss, SBC_ADDR);
  });
  afterAll(async () => {
    await sbc?.close();
    await bob?.close();
    await w?.close();
    await ctx.cleanup();
  });

  it('asserting someone else, or no SIP identity: 403 (ACK dropped), never at bob; the From or the To in another host case pass', async () => {
    const call = await sbc.invite('bob@lab.example', { auth: false, headers: [['P-KS-IDSP', SBC], ['P-KS-Auth', 'mechanism=app-hmac'], ['P-Asserted-Identity', `<sip:${ALICE}>`]] });
    const ok = await call.final;
    expect(ok.status).toBe(200);
    const d = await sbc.ack(call.inv, ok);
    await bob.waitFor('ACK', call.callId);
    const atBob = () => bob.received.filter((r) => r.callId() === call.callId).map((r) => r.method);
    const as = (pai: string, mech = 'app-hmac'): Array<[string, string]> => [['P-KS-IDSP', SBC], ['P-KS-Auth', `mechanism=${mech}`], ['P-Asserted-Identity', pai]];
    const before = w.ss.stats().calls.notParty;
    for (const pai of ['<sip:mallory@evil.example>', '<tel:+15551234>', '<sip:alice@lab.example.evil>']) {
      const r = await sbc.send(sbc.inDialog(d, 'BYE', { headers: as(pai) }));
      expect([pai, r.status]).toEqual([pai, 403]);
    }
    const ack = sbc.inDialog(d, 'ACK', { headers: as('<sip:mallory@evil.example>') });
    await sbc.stack.sendStateless(ack);
    await new Promise((r) => setTimeout(r, 200));
    expect(atBob()).toEqual(['INVITE', 'ACK']);
    expect(w.ss.stats().calls.notParty).toBe(before + 4);
    // the parties themselves, whatever the case of the host: the To (bob's side), then the From (alice) hangs up
    expect((await sbc.send(sbc.inDialog(d, 'UPDATE', { headers: as('<sip:bob@LAB.EXAMPLE>', 'digest-flow') }))).status).toBe(200);
    expect((await sbc.send(sbc.inDialog(d, 'BYE', { headers: as('<sip:alice@Lab.Example>') }))).status).toBe(200);
    expect(atBob()).toEqual(['INVITE', 'ACK', 'UPDATE', 'BYE']);
  });
});
