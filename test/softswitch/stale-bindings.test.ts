/**
 * Bindings left in the store by a registration whose path is gone (the SBC
 * restarted on a new core-side port, the terminal re-registered from a new
 * Contact) must not hold calls to the AoR's live contact.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { byPreference } from '../../src/softswitch/sip-route.js';
import { parseNameAddr } from '../../src/sip/index.js';
import { DEFAULT_EXPIRES, Registrar, type RegisterInput } from '../../src/softswitch/registrar.js';
import { instanceOf } from '../../src/terminal/sip-terminal.js';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, SBC, world, type World } from './harness.js';
import { Phone } from './calls-phone.js';

const CAROL = 'carol@lab.example';

/** A UDP port that swallows everything: what the softswitch reaches at an old SBC address (no ICMP on a bound socket). */
async function blackHole(): Promise<{ port: number; got: string[]; close(): void }> {
  const s: Socket = createSocket('udp4');
  const got: string[] = [];
  s.on('message', (m) => got.push(m.toString('latin1').split('\r\n')[0]!));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, got, close: () => s.close() };
}

it('orders bindings by q, then the most recently registered first', () => {
  const b = (id: string, q: number, updatedAt: number) => ({ id, q, updatedAt });
  expect(byPreference([b('old', 1, 1), b('low', 0.5, 9), b('new', 1, 5), b('same', 1, 5)]).map((x) => x.id)).toEqual(['new', 'same', 'old', 'low']);
});

it('a terminal\'s instance ID is a UUID URN of its IDc: the same on every run, different per IDc', () => {
  expect(instanceOf('bob@lab.example')).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(instanceOf('bob@lab.example')).toBe(instanceOf('bob@lab.example'));
  expect(instanceOf('alice@lab.example')).not.toBe(instanceOf('bob@lab.example'));
});

describeEngines('registrar: one binding per UA instance', (ctx) => {
  const aor = 'dave@lab.example';
  let reg: Registrar;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const store = await ctx.open();
    reg = new Registrar(store.bindings, DEFAULT_EXPIRES, Date.now);
    close = () => store.close();
  });
  afterAll(async () => {
    await close();
    await ctx.cleanup();
  });

  const register = async (callId: string, contact: string) => {
    const input: RegisterInput = { aor, callId, cseq: 1, contacts: [parseNameAddr(contact, 'Contact')], expires: undefined, source: 'udp:127.0.0.1:5070', idsp: '', mechanism: '' };
    const p = reg.plan(input);
    if (!p.ok) throw new Error('plan refused');
    const r = await reg.apply(p.plan);
    if (!r.ok) throw new Error('apply refused');
    return r;
  };
  const inst = (n: number) => `;+sip.instance="<urn:uuid:00000000-0000-5000-8000-00000000000${n}>"`;

  it('the same instance registering again from a new Contact and Call-ID replaces its old binding', async () => {
    await register('run-1', `<sip:dave@127.0.0.1:40001>${inst(1)}`);
    const r = await register('run-2', `<sip:dave@127.0.0.1:40002>${inst(1)}`);
    expect(r.live.map((b) => b.contact)).toEqual(['sip:dave@127.0.0.1:40002']);
    expect(r.removed.map((b) => b.contact)).toEqual(['sip:dave@127.0.0.1:40001']);
  });

  it('other instances, other reg-ids and contacts without an instance are kept (RFC 3261 rules)', async () => {
    await register('other', `<sip:dave@127.0.0.1:40003>${inst(2)}`);
    await register('plain-1', '<sip:dave@127.0.0.1:40004>');
    await register('plain-2', '<sip:dave@127.0.0.1:40005>');
    await register('flow-1', `<sip:dave@127.0.0.1:40006>${inst(3)};reg-id=1`);
    const r = await register('flow-2', `<sip:dave@127.0.0.1:40007>${inst(3)};reg-id=2`);
    expect(r.live.map((b) => b.contact).sort()).toEqual([40002, 40003, 40004, 40005, 40006, 40007].map((p) => `sip:dave@127.0.0.1:${p}`));
    const again = await register('flow-1b', `<sip:dave@127.0.0.1:40008>${inst(3)};reg-id=1`);
    expect(again.removed.map((b) => b.contact)).toEqual(['sip:dave@127.0.0.1:40006']);
  });
});

describeEngines('softswitch routing past stale bindings', (ctx) => {
  let w: World;
  let alice: Phone;
  let ss: { address: string; port: number };
  beforeAll(async () => {
    // the default ring timer (60 s): only the no-answer timer can move on from a silent hop in time
    w = await world(ctx, { calls: { noAnswerTimeoutMs: 500 } });
    ss = { address: '127.0.0.1', port: w.ss.ports.udp! };
    alice = await Phone.open(ALICE, ss);
    expect((await alice.register()).status).toBe(200);
  });
  afterAll(async () => {
    await alice.close();
    await w.close();
    await ctx.cleanup();
  });

  /** A binding as a terminal registered through an SBC whose core-side port is now `hole`. */
  async function staleBinding(hole: number, q: number): Promise<void> {
    await w.store.bindings.update(CAROL, () => ({
      commit: [{
        op: 'put',
        binding: {
          aor: CAROL, contact: `sip:carol@127.0.0.1:${hole + 1}`, q, expiresAt: Date.now() + 3600_000, callId: 'before-restart', cseq: 3,
          source: `udp:127.0.0.1:${hole}`, idsp: SBC, mechanism: 'app-hmac', instance: '',
        },
      }],
      result: true,
    }));
  }

  async function withCarol(run: (carol: Phone) => Promise<void>, params = ''): Promise<void> {
    const carol = await Phone.open(CAROL, ss);
    try {
      expect((await carol.register({ contact: carol.contact, contactParams: params })).status).toBe(200);
      await run(carol);
    } finally {
      await carol.register({ contact: carol.contact, headers: [['Expires', '0']] });
      await carol.close();
      // the stale ones go too, so each case starts clean
      await w.store.bindings.update(CAROL, (live) => ({ commit: live.map((b) => ({ op: 'remove' as const, contact: b.contact })), result: true }));
    }
  }

  it('among equal q, the fresh registration is tried before the binding left over from before a restart', async () => {
    const hole = await blackHole();
    try {
      await staleBinding(hole.port, 1);
      await withCarol(async (carol) => {
        carol.behaviour = 'answer';
        const call = await alice.invite(CAROL);
        expect((await call.final).status).toBe(200);
        expect(carol.received.some((r) => r.method === 'INVITE' && r.callId() === call.callId)).toBe(true);
        expect(hole.got).toEqual([]);
      });
    } finally {
      hole.close();
    }
  });

  it('a stale binding tried first whose next hop answers nothing at all is given up, and the live contact answers', async () => {
    const hole = await blackHole();
    try {
      await staleBinding(hole.port, 1);
      await withCarol(async (carol) => {
        carol.behaviour = 'answer';
        const before = w.ss.stats().calls.unresponsive;
        const call = await alice.invite(CAROL);
        expect((await call.final).status).toBe(200);
        expect(hole.got.some((l) => l.startsWith('INVITE '))).toBe(true);
        expect(carol.received.some((r) => r.method === 'INVITE' && r.callId() === call.callId)).toBe(true);
        expect(w.ss.stats().calls.unresponsive).toBe(before + 1);
      }, ';q=0.5');
    } finally {
      hole.close();
    }
  }, 20_000);
});
