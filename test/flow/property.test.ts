import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { equalBytes } from '../../src/crypto/ks1.js';
import type { S1, S5, S6, S7, S8, S9, S10, SbcPending } from '../../src/flow/index.js';
import { BINDING, makeLab, registerAll } from './harness.js';

// Identities as any protocol could carry them: no CR, LF or NUL, at most 256 UTF-16 units.
const id = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s));
const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));

describe('properties of the full flow', () => {
  it('random keys and identities always give both ends the same session key', async () => {
    await fc.assert(
      fc.asyncProperty(key, key, id, id, fc.string({ maxLength: 8 }), async (kc, ksp, idc, idsp, seed) => {
        const lab = makeLab({ kc, ksp, idc, idsp, seed });
        const { t, sbc } = await registerAll(lab, lab.terminal());
        expect(equalBytes(t.sessionKey, sbc.keys.sessionKey)).toBe(true);
        expect(t.mechanism).toBe(sbc.mechanism);
        expect(t.idsp).toBe(idsp);
      }),
      { numRuns: 100 },
    );
  });
});

// Anything a broken codec or a hostile peer could hand over.
const junkValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.uint8Array({ maxLength: 70 }).map((a) => Buffer.from(a)),
  fc.constantFrom(16, 60).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a))),
  fc.record({ items: fc.array(fc.record({ name: fc.string(), q: fc.double() }), { maxLength: 3 }), text: fc.string() }),
);
const fields = ['idc', 'idsp', 'n1', 'n2', 'ts', 'rand', 'authenticator', 'mechs', 'ekc', 'eksp', 'mech', 'mac'];
const junk = fc.dictionary(fc.constantFrom(...fields), junkValue);

describe('hostile input', () => {
  it('no state machine throws or rejects on malformed messages', async () => {
    const lab = makeLab();
    const terminal = lab.terminal();
    const pending: SbcPending = { idc: 'alice@lab.example', idsp: lab.sbc.idsp, rand: lab.random(16), n1: lab.random(16), mech: 'tls-psk', mechs: 'tls-psk' };
    await fc.assert(
      fc.asyncProperty(junk, junk, async (a, b) => {
        lab.sbc.onRegister(a as unknown as S1);
        lab.sbc.onChallenge(a as unknown as S5, b as unknown as { n1: Buffer });
        lab.sbc.onAuthenticate(a as unknown as S7);
        lab.sbc.onAccepted(a as unknown as S9, pending);
        lab.sbc.onAccepted({ ...pending, ekc: Buffer.alloc(60), eksp: Buffer.alloc(60), ...a } as unknown as S9, pending);
        terminal.start();
        terminal.onChallenge(a as unknown as S6);
        terminal.onSuccess(b as unknown as S10);
        await lab.softswitch.onRegister(a as unknown as { idc: string; idsp: string });
        await lab.softswitch.onAuthenticate(a as unknown as S8, BINDING);
      }),
      { numRuns: 1000 },
    );
  });

  it('a pending record that onAuthenticate did not make is a programming error', () => {
    const lab = makeLab();
    expect(() => lab.sbc.onAccepted({} as S9, {} as SbcPending)).toThrow(TypeError);
  });

  it('no single-byte change to a good s10 is accepted', async () => {
    const lab = makeLab();
    const terminal = lab.terminal();
    const s1 = terminal.start();
    const r1 = lab.sbc.onRegister(s1);
    if (!r1.ok) throw new Error(r1.kind);
    const r2 = await lab.softswitch.onRegister(r1.s2);
    if (r2.kind !== 'challenge') throw new Error(r2.kind);
    const r5 = lab.sbc.onChallenge(r2.s5, s1);
    if (!r5.ok) throw new Error(r5.kind);
    const r6 = terminal.onChallenge(r5.s6);
    if (!r6.ok) throw new Error(r6.error);
    const r7 = lab.sbc.onAuthenticate(r6.value);
    if (!r7.ok) throw new Error(r7.kind);
    const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
    if (r8.kind !== 'accepted') throw new Error(r8.kind);
    const r9 = lab.sbc.onAccepted(r8.s9, r7.pending);
    if (!r9.ok) throw new Error(r9.kind);
    const good = r9.s10;
    fc.assert(
      fc.property(fc.constantFrom('n1', 'n2', 'ekc', 'mac' as const), fc.nat(), fc.integer({ min: 1, max: 255 }), (f, pos, x) => {
        const buf = Buffer.from(good[f]);
        buf[pos % buf.length]! ^= x;
        expect(terminal.onSuccess({ ...good, [f]: buf }).ok).toBe(false);
      }),
    );
    expect(terminal.onSuccess(good).ok).toBe(true);
  });
});
