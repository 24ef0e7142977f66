import { describe, expect, it } from 'vitest';
import { StreamLimits } from '../../src/auc/console/live.js';
import { parseUtc } from '../../src/auc/console/pages/audit.js';
import { increase, rateWindow } from '../../src/auc/console/pages/dashboard.js';
import { SessionStore, csrfMatches } from '../../src/auc/console/sessions.js';
import type { OperatorToken } from '../../src/store/tokens.js';

const op = (id: string): OperatorToken => ({ id, role: 'admin', label: '', createdAt: 0, revoked: false });

describe('console parts', () => {
  it('reads audit times as UTC whatever the zone, and refuses what is not a time', () => {
    expect(parseUtc('2026-05-01')).toBe(Date.UTC(2026, 4, 1));
    expect(parseUtc('2026-05-01T10:30')).toBe(Date.UTC(2026, 4, 1, 10, 30));
    expect(parseUtc('2026-05-01 10:30:15')).toBe(Date.UTC(2026, 4, 1, 10, 30, 15));
    expect(parseUtc('2026-05-01T10:30+02:00')).toBe(Date.UTC(2026, 4, 1, 8, 30));
    expect(parseUtc('')).toBeUndefined();
    for (const bad of ['yesterday', '2026-13-01', '1e309', '2026-05-01T25:00']) expect(parseUtc(bad), bad).toBeInstanceOf(Error);
  });

  it('counts a counter\'s events over the history, a restart counting from zero', () => {
    const samples = [
      { at: 0, totals: { registrations: 10 } },
      { at: 60_000, totals: { registrations: 15 } },
      { at: 120_000, totals: { registrations: 3 } }, // restarted
      { at: 180_000, totals: { registrations: 4 } },
    ];
    const rates = { samples: () => samples, rates: () => [1, 2, 3].map((i) => ({ at: samples[i]!.at, perMinute: { registrations: i } })) };
    expect(increase(rates, 'registrations')).toBe(5 + 3 + 1);
    expect(increase(rates, 'calls')).toBeUndefined();
    expect(increase({ samples: () => samples.slice(0, 1), rates: () => [] }, 'registrations')).toBeUndefined();
    expect(rateWindow(rates)).toEqual({ t: [60, 120, 180], series: [{ label: 'Registrations', values: [1, 2, 3] }] });
  });

  it('holds a bounded number of sessions, dropping the least recently used', () => {
    let t = 0;
    const s = new SessionStore({ idleMs: 1000, maxMs: 10_000, maxSessions: 3 }, () => t);
    const a = s.create(op('a'));
    const b = s.create(op('b'));
    s.create(op('c'));
    t = 10;
    expect(s.get(a.cookie)).toBeDefined(); // a used: b is now the least recently used
    s.create(op('d'));
    expect(s.size).toBe(3);
    expect(s.get(b.cookie)).toBeUndefined();
    expect(s.get(a.cookie)).toBeDefined();
    expect(s.get('not-a-cookie')).toBeUndefined();
    expect(csrfMatches(a.session, a.session.csrf)).toBe(true);
    expect(csrfMatches(a.session, b.session.csrf)).toBe(false);
    expect(csrfMatches(a.session, ['x'])).toBe(false);
  });

  it('bounds live streams per session and in all', () => {
    const l = new StreamLimits(3, 2);
    expect(l.take('a') && l.take('a')).toBe(true);
    expect(l.take('a')).toBe(false);
    expect(l.take('b')).toBe(true);
    expect(l.take('c')).toBe(false);
    l.give('a');
    expect(l.take('c')).toBe(true);
  });
});
