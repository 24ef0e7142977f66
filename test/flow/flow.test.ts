import { describe, expect, it } from 'vitest';
import { AppHmacSigner, AppHmacVerifier } from '../../src/crypto/app-hmac.js';
import { equalBytes, unwrap } from '../../src/crypto/ks1.js';
import { parseMechanisms, SbcFlow, SoftswitchFlow, type S6, type S7, type S10 } from '../../src/flow/index.js';
import { BINDING, makeLab, registerAll, type Lab } from './harness.js';

/** s1..s7 for a terminal; returns what each side produced so far. */
async function upToS7(lab: Lab, terminal = lab.terminal()) {
  const s1 = terminal.start();
  const r1 = lab.sbc.onRegister(s1);
  if (!r1.ok) throw new Error(r1.kind);
  const r2 = await lab.softswitch.onRegister(r1.s2);
  if (r2.kind !== 'challenge') throw new Error(r2.kind);
  const r5 = lab.sbc.onChallenge(r2.s5, s1);
  if (!r5.ok) throw new Error(r5.kind);
  const r6 = terminal.onChallenge(r5.s6);
  if (!r6.ok) throw new Error(r6.error);
  return { terminal, s1, s6: r5.s6, s7: r6.value };
}

/** s7 → s10 without the terminal's last step. */
async function toS10(lab: Lab, s7: S7): Promise<S10> {
  const r7 = lab.sbc.onAuthenticate(s7);
  if (!r7.ok) throw new Error(r7.kind);
  const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
  if (r8.kind !== 'accepted') throw new Error(r8.kind);
  const r9 = lab.sbc.onAccepted(r8.s9, r7.pending);
  if (!r9.ok) throw new Error(r9.kind);
  return r9.s10;
}

const flip = (b: Buffer, i = 0) => {
  const c = Buffer.from(b);
  c[i]! ^= 1;
  return c;
};

describe('full registration s1..s11', () => {
  it('gives terminal and SBC the same session key and the terminal’s best allowed mechanism, and reports s11', async () => {
    const lab = makeLab();
    const terminal = lab.terminal();
    const { t, sbc } = await registerAll(lab, terminal);
    expect(equalBytes(t.sessionKey, sbc.keys.sessionKey)).toBe(true);
    expect(t.sessionKey.length).toBe(32);
    expect(t.mechanism).toBe('tls-psk');
    expect(sbc.mechanism).toBe('tls-psk');
    expect(t.idsp).toBe('sbc1.lab.example'); // learnt from s6
    expect(terminal.stage).toBe('registered');
    expect(lab.auc.registrations).toHaveLength(1);
    const s11 = lab.auc.registrations[0]!;
    expect(s11).toMatchObject({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', ipc: '192.0.2.10', mechanism: 'tls-psk', protocol: 'sip' });
    expect(s11.rand?.length).toBe(16);
    expect(lab.softswitch.heldVectors).toBe(0);
    expect(lab.sbc.stats.outstanding).toBe(0);
  });

  it('the session keys protect later traffic with app-hmac both ways', async () => {
    const lab = makeLab({ offered: [{ name: 'app-hmac', q: 1 }] });
    const { t, sbc } = await registerAll(lab, lab.terminal());
    expect(t.mechanism).toBe('app-hmac');
    const up = new AppHmacSigner(t.keys.kAppHmac, 'uplink');
    const atSbc = new AppHmacVerifier(sbc.keys.kAppHmac, 'uplink');
    const m = Buffer.from('INVITE sip:bob@lab.example SIP/2.0\r\n');
    const p = up.protect(m);
    expect(atSbc.verify(p.seq, m, p.tag)).toBe('ok');
    expect(atSbc.verify(p.seq, m, p.tag)).toBe('replayed');
    const down = new AppHmacSigner(sbc.keys.kAppHmac, 'downlink');
    const atTerminal = new AppHmacVerifier(t.keys.kAppHmac, 'downlink');
    const d = down.protect(m);
    expect(atTerminal.verify(d.seq, m, d.tag)).toBe('ok');
  });

  it('the terminal may name its SBC in s1; another SBC name is refused', async () => {
    const lab = makeLab();
    const { t } = await registerAll(lab, lab.terminal({ idsp: 'sbc1.lab.example' }));
    expect(t.idsp).toBe('sbc1.lab.example');
    const wrong = lab.terminal({ idsp: 'sbc9.lab.example' });
    expect(lab.sbc.onRegister(wrong.start())).toMatchObject({ ok: false, kind: 'wrong-proxy' });
  });

  it('a softswitch without an SBC plays its part with its own identity and Kc,s', async () => {
    const lab = makeLab();
    const ks = lab.random(32);
    lab.auc.proxies.set('ss1.lab.example', ks);
    const direct = { ...lab, sbc: new SbcFlow({ idsp: 'ss1.lab.example', ksp: ks, offered: [{ name: 'tls-psk', q: 1 }], clock: lab.clock.now, random: lab.random }) };
    const { t, sbc } = await registerAll(direct, lab.terminal());
    expect(t.idsp).toBe('ss1.lab.example');
    expect(equalBytes(t.sessionKey, sbc.keys.sessionKey)).toBe(true);
  });

  it('the softswitch sees only wrapped keys', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    const r7 = lab.sbc.onAuthenticate(s7);
    if (!r7.ok) throw new Error(r7.kind);
    const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
    if (r8.kind !== 'accepted') throw new Error(r8.kind);
    const b = { idc: r8.s9.idc, idsp: r8.s9.idsp, rand: r8.s9.rand };
    expect(unwrap(lab.kc, r8.s9.ekc, b)).toBeDefined();
    expect(unwrap(lab.ksp, r8.s9.eksp, b)).toBeDefined();
    expect(Object.keys(r8.s9).sort()).toEqual(['eksp', 'ekc', 'idc', 'idsp', 'rand'].sort());
  });
});

describe('SBC replay defences', () => {
  it('a replayed s7 (same message again) gets a new challenge and is counted', async () => {
    const lab = makeLab();
    const { terminal, s7 } = await upToS7(lab);
    const s10 = await toS10(lab, s7);
    expect(terminal.onSuccess(s10).ok).toBe(true);
    expect(lab.sbc.onAuthenticate(s7)).toMatchObject({ ok: false, kind: 'rechallenge', reason: 'n2-unknown', count: true, s2: { idc: 'alice@lab.example', idsp: 'sbc1.lab.example' } });
  });

  it('an s7 reusing a seen N1 under a fresh N2 is refused', async () => {
    const lab = makeLab();
    const first = await upToS7(lab);
    await toS10(lab, first.s7);
    const second = await upToS7(lab);
    const replay = { ...second.s7, n1: first.s7.n1 };
    expect(lab.sbc.onAuthenticate(replay)).toMatchObject({ ok: false, kind: 'rechallenge', reason: 'n1-replayed' });
  });

  it('an s1 reusing a seen N1 or outside the TS window is refused and counted', () => {
    const lab = makeLab();
    const t = lab.terminal();
    const s1 = t.start();
    expect(lab.sbc.onRegister(s1).ok).toBe(true);
    expect(lab.sbc.onRegister(s1)).toMatchObject({ ok: false, kind: 'refused', reason: 'n1-replayed', count: true });
    const late = t.start();
    lab.clock.advance(31);
    expect(lab.sbc.onRegister(late)).toMatchObject({ ok: false, kind: 'refused', reason: 'ts-window' });
    const early = { ...t.start(), ts: t.start().ts + 31 };
    expect(lab.sbc.onRegister(early)).toMatchObject({ ok: false, kind: 'refused', reason: 'ts-window' });
  });

  it('an N1 is forgotten only once its TS could no longer pass', () => {
    const lab = makeLab();
    const s1 = lab.terminal().start();
    expect(lab.sbc.onRegister(s1).ok).toBe(true);
    lab.clock.advance(30);
    expect(lab.sbc.onRegister(s1)).toMatchObject({ kind: 'refused', reason: 'n1-replayed' });
    lab.clock.advance(1);
    expect(lab.sbc.onRegister(s1)).toMatchObject({ kind: 'refused', reason: 'ts-window' });
  });

  it('an N2 that was never issued, or has expired, gets a new challenge', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    expect(lab.sbc.onAuthenticate({ ...s7, n2: lab.random(16) })).toMatchObject({ ok: false, kind: 'rechallenge', reason: 'n2-unknown' });
    // the forged attempt did not spend the real N2
    expect(lab.sbc.onAuthenticate(s7).ok).toBe(true);
    const lab2 = makeLab({ seed: 'b' });
    const a = await upToS7(lab2);
    lab2.clock.advance(31);
    const again = { ...a.s7, ts: a.s7.ts + 31 };
    expect(lab2.sbc.onAuthenticate(again)).toMatchObject({ ok: false, kind: 'rechallenge', reason: 'n2-unknown' });
  });

  it('an N2 issued to another terminal is refused', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    expect(lab.sbc.onAuthenticate({ ...s7, idc: 'mallory@lab.example' })).toMatchObject({ ok: false, kind: 'rechallenge', reason: 'n2-other-terminal' });
  });

  it('an s7 outside the TS window gets a new challenge that the terminal can answer', async () => {
    const lab = makeLab();
    const { terminal, s7 } = await upToS7(lab);
    const stale = { ...s7, ts: s7.ts - 31 };
    const r = lab.sbc.onAuthenticate(stale);
    expect(r).toMatchObject({ ok: false, kind: 'rechallenge', reason: 'ts-window', count: true });
    if (r.ok || r.kind !== 'rechallenge') return;
    // the adapter asks the core again and echoes the s7's N1
    const again = await lab.softswitch.onRegister(r.s2);
    if (again.kind !== 'challenge') throw new Error(again.kind);
    const r5 = lab.sbc.onChallenge(again.s5, stale);
    if (!r5.ok) throw new Error(r5.kind);
    const r6 = terminal.onChallenge(r5.s6);
    if (!r6.ok) throw new Error(r6.error);
    const done = terminal.onSuccess(await toS10(lab, r6.value));
    expect(done.ok).toBe(true);
  });

  it('missing or malformed fields are named', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    expect(lab.sbc.onAuthenticate({ ...s7, authenticator: Buffer.alloc(15) })).toEqual({ ok: false, kind: 'bad-request', field: 'authenticator' });
    expect(lab.sbc.onAuthenticate({ ...s7, n1: undefined as unknown as Buffer })).toEqual({ ok: false, kind: 'bad-request', field: 'n1' });
    expect(lab.sbc.onRegister({ idc: 'a\r\nb', n1: lab.random(16), ts: 1 })).toEqual({ ok: false, kind: 'bad-request', field: 'idc' });
    expect(lab.sbc.onRegister({ idc: 'a', n1: lab.random(16), ts: 1.5 })).toEqual({ ok: false, kind: 'bad-request', field: 'ts' });
  });

  it('a terminal list with nothing the SBC allows is refused with the SBC’s offer', async () => {
    const lab = makeLab({ offered: [{ name: 'tls', q: 1 }] });
    const { s7 } = await upToS7(lab);
    const r = lab.sbc.onAuthenticate(s7);
    expect(r).toMatchObject({ ok: false, kind: 'no-common-mechanism', offered: { text: 'tls;q=1' } });
  });
});

describe('softswitch and AuC outcomes', () => {
  it('a wrong key gets a new challenge, the failure is reported, and the third locks the terminal (which only the log learns)', async () => {
    const lab = makeLab();
    const impostor = () => lab.terminal({ kc: lab.random(32) });
    for (let i = 1; i <= 2; i++) {
      const { s7 } = await upToS7(lab, impostor());
      const r7 = lab.sbc.onAuthenticate(s7);
      if (!r7.ok) throw new Error(r7.kind);
      const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
      expect(r8).toMatchObject({ kind: 'challenge', reason: 'wrong-authenticator', failure: { locked: false }, s5: { idc: 'alice@lab.example' } });
      expect(lab.auc.failedReports).toHaveLength(i);
    }
    const { s7 } = await upToS7(lab, impostor());
    const r7 = lab.sbc.onAuthenticate(s7);
    if (!r7.ok) throw new Error(r7.kind);
    // the lockout does not change the answer: another challenge, marked for the adapter's log
    expect(await lab.softswitch.onAuthenticate(r7.s8, BINDING)).toMatchObject({ kind: 'challenge', reason: 'wrong-authenticator', refused: 'locked', failure: { locked: true } });
    // and now even the right key fails, exactly as a wrong one does
    const right = await upToS7(lab);
    const r = lab.sbc.onAuthenticate(right.s7);
    if (!r.ok) throw new Error(r.kind);
    expect(await lab.softswitch.onAuthenticate(r.s8, BINDING)).toMatchObject({ kind: 'challenge', reason: 'wrong-authenticator', refused: 'locked', s5: { idc: 'alice@lab.example' } });
    expect(lab.auc.registrations).toHaveLength(0);
    // the decoy's failure is reported without a Rand (the AuC never issued it)
    expect(lab.auc.failedReports.at(-1)).toEqual({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
  });

  it('a vector is single use: a replayed s8 is not accepted twice', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    const r7 = lab.sbc.onAuthenticate(s7);
    if (!r7.ok) throw new Error(r7.kind);
    expect((await lab.softswitch.onAuthenticate(r7.s8, BINDING)).kind).toBe('accepted');
    expect(await lab.softswitch.onAuthenticate(r7.s8, BINDING)).toMatchObject({ kind: 'challenge', reason: 'stale' });
    expect(lab.auc.failedReports).toHaveLength(0);
  });

  it('sweeping drops expired challenges and vectors', async () => {
    const lab = makeLab();
    await upToS7(lab);
    expect(lab.sbc.stats.outstanding).toBe(1);
    expect(lab.softswitch.heldVectors).toBe(1);
    lab.clock.advance(29);
    lab.sbc.sweep();
    lab.softswitch.sweep();
    expect(lab.sbc.stats.outstanding).toBe(1);
    lab.clock.advance(62);
    lab.sbc.sweep();
    lab.softswitch.sweep();
    expect(lab.sbc.stats).toEqual({ outstanding: 0, seenNonces: 0 });
    expect(lab.softswitch.heldVectors).toBe(0);
  });

  it('an expired Rand gets a fresh challenge, not a failure', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    const r7 = lab.sbc.onAuthenticate(s7);
    if (!r7.ok) throw new Error(r7.kind);
    lab.clock.advance(30);
    expect(await lab.softswitch.onAuthenticate(r7.s8, BINDING)).toMatchObject({ kind: 'challenge', reason: 'stale' });
  });

  it('an unknown, disabled or locked IDc is challenged and fails as a wrong key does; only `refused` says why', async () => {
    const lab = makeLab();
    const bobKc = lab.random(32);
    lab.auc.terminals.set('bob@lab.example', { kc: bobKc, disabled: true });
    lab.auc.terminals.set('carol@lab.example', { kc: lab.random(32) });
    lab.auc.failures.set('carol@lab.example', 5);
    const outcomes = async (idc: string, kc: Buffer) => {
      const { s7 } = await upToS7(lab, lab.terminal({ idc, kc }));
      const r7 = lab.sbc.onAuthenticate(s7);
      if (!r7.ok) throw new Error(r7.kind);
      const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
      if (r8.kind !== 'challenge') throw new Error(r8.kind);
      return r8;
    };
    const wrongKey = await outcomes('alice@lab.example', lab.random(32));
    expect(wrongKey.refused).toBeUndefined();
    for (const [idc, kc, refused] of [
      ['nobody@lab.example', lab.random(32), 'unknown-terminal'],
      ['bob@lab.example', bobKc, 'disabled'],
      ['carol@lab.example', lab.random(32), 'locked'],
    ] as const) {
      const r = await outcomes(idc, kc);
      expect(r).toMatchObject({ kind: 'challenge', reason: 'wrong-authenticator', refused, s5: { idc, idsp: 'sbc1.lab.example' } });
      expect(r.s5.rand).toHaveLength(wrongKey.s5.rand.length);
      expect(Object.keys(r.s5)).toEqual(Object.keys(wrongKey.s5));
    }
    expect(lab.auc.registrations).toHaveLength(0);
  });

  it('an SBC the AuC does not know is forbidden (not the terminal’s fault); AuC down → unavailable', async () => {
    const lab = makeLab();
    expect(await lab.softswitch.onRegister({ idc: 'alice@lab.example', idsp: 'rogue.example' })).toEqual({ kind: 'forbidden', reason: 'unknown-proxy' });
    lab.auc.down = true;
    expect(await lab.softswitch.onRegister({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ kind: 'unavailable', cause: 'auc-unavailable' });
  });

  it('when s11 cannot be delivered the registration stands and the adapter is told to resend', async () => {
    const lab = makeLab();
    const { s7 } = await upToS7(lab);
    const r7 = lab.sbc.onAuthenticate(s7);
    if (!r7.ok) throw new Error(r7.kind);
    lab.auc.down = true;
    const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
    expect(r8).toMatchObject({ kind: 'accepted', reported: false, report: { idc: 'alice@lab.example', mechanism: 'tls-psk' } });
  });

  it('an AuC answering for another terminal is not trusted', async () => {
    const lab = makeLab();
    const auc = lab.auc;
    const liar = new SoftswitchFlow({
      auc: { ...auc, vector: async (r) => { const v = await auc.vector(r); return v.ok ? { ok: true, vector: { ...v.vector, idc: 'eve@lab.example' } } : v; } } as typeof auc,
      clock: lab.clock.now,
    });
    expect(await liar.onRegister({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).toEqual({ kind: 'unavailable', cause: 'auc-error' });
  });
});

describe('terminal checks on s6 and s10', () => {
  async function s10For(lab: Lab) {
    const { terminal, s7 } = await upToS7(lab);
    return { terminal, s7, s10: await toS10(lab, s7) };
  }

  it('refuses a tampered mechs, ekc, MAC, N1 echo or mech', async () => {
    const cases: [string, (s: S10) => S10, string][] = [
      ['mechs', (s) => ({ ...s, mechs: 'app-hmac;q=0.3' }), 'bad-mac'],
      ['mechs whitespace only', (s) => ({ ...s, mechs: 'tls-psk;q=0.5 , app-hmac;q=0.3' }), 'ok'],
      ['mech', (s) => ({ ...s, mech: 'app-hmac' }), 'bad-mac'],
      ['ekc', (s) => ({ ...s, ekc: flip(s.ekc, 20) }), 'unwrap-failed'],
      ['mac', (s) => ({ ...s, mac: flip(s.mac, 15) }), 'bad-mac'],
      ['n2', (s) => ({ ...s, n2: flip(s.n2) }), 'bad-mac'],
      ['ts', (s) => ({ ...s, ts: s.ts + 1 }), 'bad-mac'],
      ['n1', (s) => ({ ...s, n1: flip(s.n1) }), 'n1-mismatch'],
      ['idsp', (s) => ({ ...s, idsp: 'sbc2.lab.example' }), 'wrong-identity'],
      ['short mac', (s) => ({ ...s, mac: s.mac.subarray(0, 8) }), 'bad-message'],
    ];
    for (const [name, tamper, want] of cases) {
      const lab = makeLab({ seed: name });
      const { terminal, s10 } = await s10For(lab);
      const r = terminal.onSuccess(tamper(s10));
      if (want === 'ok') expect(r.ok, name).toBe(true);
      else expect(r, name).toEqual({ ok: false, error: want });
    }
  });

  it('refuses a downgrade of its list on the way to the SBC', async () => {
    const lab = makeLab();
    const { terminal, s7 } = await upToS7(lab);
    const weaker = parseMechanisms('app-hmac;q=0.3');
    if (!weaker.ok) throw new Error(weaker.error);
    const s10 = await toS10(lab, { ...s7, mechs: weaker.list });
    expect(s10.mech).toBe('app-hmac');
    expect(terminal.onSuccess(s10)).toEqual({ ok: false, error: 'downgrade' });
    expect(terminal.stage).toBe('authenticating');
  });

  it('refuses an s10 from an SBC that does not hold Kc,sp', async () => {
    const lab = makeLab();
    const { terminal, s10 } = await s10For(lab);
    // an attacker who replays the ekc but cannot compute the MAC
    expect(terminal.onSuccess({ ...s10, mac: Buffer.alloc(16) })).toEqual({ ok: false, error: 'bad-mac' });
  });

  it('refuses an s6 that does not echo its N1, or names someone else', () => {
    const lab = makeLab();
    const t = lab.terminal({ idsp: 'sbc1.lab.example' });
    const s1 = t.start();
    const s6: S6 = { idc: s1.idc, idsp: 'sbc1.lab.example', n1: s1.n1, n2: lab.random(16), ts: s1.ts, rand: lab.random(16), offered: lab.sbc.offered };
    expect(t.onChallenge({ ...s6, n1: lab.random(16) })).toEqual({ ok: false, error: 'n1-mismatch' });
    expect(t.onChallenge({ ...s6, idsp: 'sbc2.lab.example' })).toEqual({ ok: false, error: 'wrong-identity' });
    expect(t.onChallenge({ ...s6, idc: 'bob@lab.example' })).toEqual({ ok: false, error: 'wrong-identity' });
    expect(t.onChallenge({ ...s6, rand: Buffer.alloc(3) })).toEqual({ ok: false, error: 'bad-message' });
    expect(t.onChallenge(s6).ok).toBe(true);
    expect(lab.terminal().onSuccess({} as S10)).toEqual({ ok: false, error: 'unexpected' });
  });
});
