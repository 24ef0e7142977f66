/**
 * An IDS partner table at its bound under a flood of new flows: exactly one partner goes per new one,
 * oldest first (a legitimate partner's good standing is not pushed out sooner by a flood), partners
 * swept as idle are skipped, and a swept key made again is as young as its new partner.
 */
import { describe, expect, it } from 'vitest';
import { PartnerTable } from '../../src/ids/partners.js';

describe('partner table at its bound', () => {
  it('a flood of new flows evicts one partner per new flow, oldest first; the good partner holds as long as before', () => {
    const p = new PartnerTable('flow', 64);
    for (let i = 0; i < 32; i++) p.touch(`udp:203.0.113.${i}:5060`, 1000);
    p.touch('udp:192.0.2.10:5060', 1000).markGood('alice@lab.example', 1000);
    for (let i = 0; i < 31; i++) p.touch(`udp:203.0.113.${100 + i}:5060`, 1000);
    for (let i = 0; i < 32; i++) p.touch(`udp:198.51.100.${i}:4000`, 2000); // the flood: 32 new flows, 32 older ones go
    expect(p.size).toBe(64);
    expect(p.evicted).toBe(32);
    expect(p.peek('udp:192.0.2.10:5060')?.hasGood('alice@lab.example', 2000, 60_000)).toBe(true);
    expect(p.peek('udp:203.0.113.31:5060')).toBeUndefined();
    p.touch('udp:198.51.100.200:4000', 2000);
    expect(p.peek('udp:192.0.2.10:5060')).toBeUndefined(); // the next new flow takes it, as before
    expect(p.peek('udp:203.0.113.100:5060')).toBeDefined();
  });

  it('partners swept as idle are skipped, and a key made again is as young as its new partner', () => {
    const p = new PartnerTable('address', 4);
    p.touch('a', 0);
    p.touch('b', 0);
    p.touch('c', 50_000);
    p.sweep(70_000, 60_000); // a and b idle for 70 s: swept
    expect(p.size).toBe(1);
    p.touch('a', 70_000); // a again: a new partner, the youngest
    p.touch('d', 70_000);
    p.touch('e', 70_000); // 4: full
    p.touch('f', 70_000); // c goes (the oldest held), not a
    expect(p.peek('c')).toBeUndefined();
    expect(p.peek('a')?.created).toBe(70_000);
    expect([...p.values()].map((x) => x.key).sort()).toEqual(['a', 'd', 'e', 'f']);
    expect(p.evicted).toBe(1);
  });
});
