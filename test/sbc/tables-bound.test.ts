/**
 * The SBC's tables filled from the network, at their bounds (docs/performance.md, "SBC and softswitch
 * tables under attack"): the signature guard and the failure counter cut their oldest sixteenth at once;
 * the dialog table, which holds legitimate calls' parties, still gives up exactly one dialog per new one.
 */
import { describe, expect, it } from 'vitest';
import { SignatureGuard } from '../../src/sbc/signing/guard.js';
import { FailureCounter } from '../../src/sbc/sip-failures.js';
import { DialogTable, ks1Party } from '../../src/sbc/dialogs.js';

const T0 = Date.UTC(2025, 0, 1, 12);

describe('signature guard at its bounds', () => {
  it('a flood of blocked sources from elsewhere: the newest blocks hold, a clean source passes', () => {
    let t = T0;
    const g = new SignatureGuard({ now: () => t, threshold: 2, windowMs: 1000, blockMs: 60_000, maxBlocked: 64 });
    const block = (s: string): boolean => g.fail(s) || g.fail(s);
    expect(block('198.51.100.9:5060')).toBe(true);
    t += 60_000; // its block ends, but stays in the table (nobody asked)
    for (let i = 0; i < 40; i++) expect(block(`203.0.113.${i}:5060`)).toBe(true);
    t += 1;
    expect(block('198.51.100.9:5060')).toBe(true); // it attacks again: blocked again, the newest block
    // the flood: 200 more sources, each blocked (the table holds 64)
    for (let i = 0; i < 200; i++) {
      t += 1;
      expect(block(`192.0.2.${i & 255}:${1024 + i}`)).toBe(true);
    }
    expect(g.stats().blocked).toBeLessThanOrEqual(64);
    expect(g.isBlocked('192.0.2.199:1223')).toBe(true); // the newest of the flood: refused
    expect(g.isBlocked('192.0.2.150:1174')).toBe(true);
    expect(g.isBlocked('203.0.113.0:5060')).toBe(false); // the oldest went to make room
    expect(g.isBlocked('10.0.0.1:5060')).toBe(false); // a legitimate flow that never failed passes
    expect(g.fail('10.0.0.1:5060')).toBe(false); // ... and one failure does not block it
    expect(g.isBlocked('10.0.0.1:5060')).toBe(false);
  });

  it('a source blocked again after its block ended is kept over blocks that began before it', () => {
    let t = T0;
    const g = new SignatureGuard({ now: () => t, threshold: 1, blockMs: 1000, maxBlocked: 4 });
    expect(g.fail('a')).toBe(true);
    t += 1000; // a's block ends; it is still held
    expect(g.fail('b')).toBe(true);
    expect(g.fail('c')).toBe(true);
    t += 1;
    expect(g.fail('a')).toBe(true); // blocked again, until t + 1000
    expect(g.fail('d')).toBe(true); // the table is full
    expect(g.fail('e')).toBe(true); // room is made: b, whose block began first, goes
    expect(g.isBlocked('a')).toBe(true);
    expect(g.isBlocked('b')).toBe(false);
    expect(g.isBlocked('e')).toBe(true);
  });

  it('a source failing steadily among a spray of one-shot sources is still blocked (counters: the least recently failed go)', () => {
    let t = T0;
    const g = new SignatureGuard({ now: () => t, threshold: 10, windowMs: 1000, maxSources: 160 });
    let blocked = false;
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 30; j++) g.fail(`10.1.${i}.${j}:5060`); // 300 new sources in all: the table cuts twice
      blocked = g.fail('198.51.100.7:5060');
      t += 50;
    }
    expect(blocked).toBe(true);
    expect(g.isBlocked('198.51.100.7:5060')).toBe(true);
    expect(g.stats().tracked).toBeLessThanOrEqual(160);
  });
});

describe('failure counter at its bound', () => {
  it('forgets the least recently failed sixteenth at once; a source failing again is kept', () => {
    let t = T0;
    const f = new FailureCounter(32, () => t);
    for (let i = 0; i < 32; i++) {
      f.count(`s${i}`, 'forbidden');
      t++;
    }
    f.count('s0', 'replay'); // s0 failed most recently now
    f.count('new', 'forbidden');
    expect(f.snapshot().sources).toBe(31); // 32 - 2 + 1
    expect(f.get('s1')).toBeUndefined();
    expect(f.get('s2')).toBeUndefined();
    expect(f.get('s3')?.total).toBe(1);
    expect(f.get('s0')).toMatchObject({ total: 2, byKind: { forbidden: 1, replay: 1 } });
    expect(f.snapshot().totals).toEqual({ forbidden: 33, replay: 1 });
  });
});

describe('dialog table at its bound', () => {
  const open = (d: DialogTable, id: string): boolean => d.open({ callId: id, callerTag: 'a', calleeTag: 'b', direction: 'outbound', caller: ks1Party(`${id}@lab.example`) });

  it('a flood of new calls pushes out one dialog per call, oldest first: a call is not evicted sooner than before', () => {
    const d = new DialogTable(24 * 3600_000, 64, () => T0);
    for (let i = 0; i < 32; i++) open(d, `flood-a${i}`);
    open(d, 'alice');
    for (let i = 0; i < 31; i++) open(d, `flood-b${i}`);
    d.close('flood-a5', 'a', 'b'); // one ended by BYE: its slot counts as room, not as a victim
    open(d, 'flood-c');
    for (let i = 0; i < 31; i++) open(d, `flood-d${i}`); // 31 more: the 31 older flood calls go, one each
    expect(d.size).toBe(64);
    expect(d.partyOf('alice', 'a', 'b')).toEqual({ idc: 'alice@lab.example' }); // still held: in-dialog requests pass
    expect(d.get('flood-a31', 'a', 'b')).toBeUndefined();
    expect(d.get('flood-b0', 'a', 'b')).toBeDefined();
    open(d, 'flood-e');
    expect(d.get('alice', 'a', 'b')).toBeUndefined(); // the next one takes it, as before
    expect(d.get('flood-b0', 'a', 'b')).toBeDefined();
  });

  it('the sweep forgets dialogs past their age in the order they began, ended ones skipped', () => {
    let t = T0;
    const d = new DialogTable(10_000, 1000, () => t);
    for (let i = 0; i < 10; i++) {
      open(d, `c${i}`);
      t += 1000;
    }
    d.close('c1', 'a', 'b');
    d.close('c4', 'a', 'b');
    expect(d.sweep()).toBe(1); // t = T0 + 10 s: c0 began 10 s ago
    t += 4500;
    expect(d.sweep()).toBe(2); // c2, c3 (c1 and c4 ended by BYE)
    expect(d.get('c5', 'a', 'b')).toBeDefined();
    expect(d.size).toBe(5);
    expect(d.stats()).toEqual({ active: 5, started: 10, ended: 2 });
  });
});
