/**
 * Who may call through the SBC: KS1 terminals are vouched for by their
 * mechanism (P-KS-Auth + P-Asserted-Identity on the trusted link, no
 * challenge); anyone else answers the softswitch's 407 with Digest. Real SBC,
 * real softswitch, real AuC over the embedded store.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.js';
import type { SoftswitchHandle } from '../../src/softswitch/run.js';
import type { RunningSbc } from '../../src/sbc/run.js';
import { placeCall, type CallEvent } from '../../src/terminal/call.js';
import { answering as answerWhenRegistered } from './call-helpers.js';
import { Phone, PASSWORDS } from '../softswitch/calls-phone.js';
import { SwitchableAuc } from '../softswitch/harness.js';
import { startRealCore, type RealCore } from './real-core.js';
import { FAST, IDSP } from './setup.js';

const CALLEE = 'callee@lab.example';
const KS1 = 'ks1-caller@lab.example';
const PHONE = 'digest-phone@lab.example';
const GUESSER = 'guesser@lab.example';

describe('call authentication through the SBC', () => {
  let core: RealCore;
  let store: Store;
  let auc: SwitchableAuc;
  let ss: SoftswitchHandle;
  let sbc: RunningSbc;
  let ca: string;
  let sbcAddr: { address: string; port: number };
  const calleeEvents: CallEvent[] = [];
  let answering: Promise<number>;
  const common = () => ({ transport: 'udp' as const, sbc: { host: '127.0.0.1', port: sbc.ports.udp! }, tls: { ca, servername: IDSP }, timers: FAST });
  const incoming = () => calleeEvents.filter((e) => e.event === 'incoming').length;

  beforeAll(async () => {
    core = await startRealCore({ name: 'call-auth', auc: (real) => (auc = new SwitchableAuc(real)) });
    ({ store, ss, sbc, ca } = core);
    sbcAddr = { address: '127.0.0.1', port: sbc.ports.udp! };
    for (const [idc, pw] of [[PHONE, 'phone pw'], [GUESSER, 'guesser pw']] as const) {
      await store.terminals.create(idc, randomBytes(32), pw);
      PASSWORDS[idc] = pw;
    }
    // the callee: a KS1 terminal under app-hmac, answering the two calls that get through
    const kCallee = randomBytes(32);
    await store.terminals.create(CALLEE, kCallee, 'x');
    answering = (await answerWhenRegistered({ ...common(), idc: CALLEE, kc: kCallee, mechs: 'app-hmac;q=0.5', calls: 2, timeoutSeconds: 20, onEvent: (e) => calleeEvents.push(e) })).done;
  });
  afterAll(async () => {
    await answering?.catch(() => undefined);
    await core?.close();
  });

  it('a KS1 terminal calls without any challenge: the SBC asserts it on the trusted link', async () => {
    const kCaller = randomBytes(32);
    await store.terminals.create(KS1, kCaller, 'x');
    const before = ss.stats().callAuth;
    const events: CallEvent[] = [];
    const code = await placeCall({ ...common(), idc: KS1, kc: kCaller, mechs: 'app-hmac;q=0.5', to: CALLEE, holdSeconds: 0.1, onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(code).toBe(0);
    const after = ss.stats().callAuth;
    expect(after.asserted).toBe(before.asserted + 1);
    expect(after.challenged).toBe(before.challenged);
  });

  it('a Digest phone with no registration gets 407 through the SBC; with its password the call goes through', async () => {
    const phone = await Phone.open(PHONE, sbcAddr);
    try {
      const n = incoming();
      const bare = await phone.invite(CALLEE, { auth: false });
      const r = await bare.final;
      expect(r.status).toBe(407);
      expect(r.auth('Proxy-Authenticate').map((c) => c.params.algorithm)).toEqual(['SHA-256', 'MD5']);
      expect(r.vias()).toHaveLength(1);
      expect(r.headers.some((h) => h.key.startsWith('p-ks-'))).toBe(false);
      expect(incoming()).toBe(n);

      const call = await phone.invite(CALLEE);
      const ok = await call.final;
      expect(ok.status).toBe(200);
      expect(call.challenged).toBe(true);
      const d = await phone.ack(call.inv, ok);
      expect((await phone.send(phone.inDialog(d, 'BYE'))).status).toBe(200);
      expect(await answering).toBe(0);
    } finally {
      await phone.close();
    }
  });

  it('wrong passwords: 407 each time, counted at the AuC against the SBC, and 407 still once locked (the lockout does not show)', async () => {
    const phone = await Phone.open(GUESSER, sbcAddr);
    try {
      const n = incoming();
      const failedBefore = auc.of('failed').length;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await (await phone.invite(CALLEE, { password: `guess ${i}` })).final).status);
      expect(statuses).toEqual([407, 407, 407]);
      expect(auc.of('failed').slice(failedBefore)).toEqual(Array(3).fill({ idc: GUESSER, idsp: IDSP }));
      const locked = await (await phone.invite(CALLEE)).final;
      expect(locked.status).toBe(407);
      expect(locked.get('Retry-After')).toBeUndefined();
      expect(incoming()).toBe(n);
    } finally {
      await phone.close();
    }
  });

  it('P-Asserted-Identity and P-KS-Auth injected by a phone are stripped by the SBC: still 407', async () => {
    const phone = await Phone.open(PHONE, sbcAddr);
    try {
      const r = await (await phone.invite(CALLEE, { auth: false, headers: [['P-KS-Auth', 'mechanism=app-hmac'], ['P-Asserted-Identity', `<sip:${PHONE}>`]] })).final;
      expect(r.status).toBe(407);
    } finally {
      await phone.close();
    }
  });
});
