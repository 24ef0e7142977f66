/**
 * The SBC's contact map (src/sbc/sip-contacts.ts): de-registration
 * (`unbindAll`) forgets exactly that IDc's Contacts and flow and nothing of
 * another IDc's, whatever happened to the Contacts before — refreshed,
 * expired, taken over by another IDc, evicted at the cap, swept, rebound.
 * The map reaches an IDc's Contacts through a per-IDc list rather than a scan
 * of all of them, so these check that list stays true to the map.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContactMap } from '../../src/sbc/sip-contacts.js';
import { parseUri, type MessageSource, type SipTransport } from '../../src/sip/index.js';

const transport = { protocol: 'udp' } as unknown as SipTransport;
const src = (port: number): MessageSource => ({ transport, protocol: 'udp', address: '192.0.2.1', port });
const uri = (user: string, port = 5060) => parseUri(`sip:${user}@192.0.2.1:${port}`);

function clockedMap(max?: number) {
  const clock = { t: 1_000_000 };
  const map = new ContactMap(() => clock.t, max);
  return { clock, map };
}

describe('ContactMap.unbindAll', () => {
  it('removes exactly one IDc’s Contacts and flow among several IDcs with several Contacts each, and the IDc can register again', () => {
    const { clock, map } = clockedMap();
    const idcs = ['a@lab.example', 'b@lab.example', 'c@lab.example', 'd@lab.example'];
    for (const [i, idc] of idcs.entries()) {
      for (let j = 0; j < 3; j++) map.bind(idc, uri(`${idc[0]}${j}`), clock.t + 60_000, i % 2 === 0);
      map.seen(idc, src(6000 + i));
    }
    expect(map.size).toBe(12);

    map.unbindAll('b@lab.example');
    expect(map.size).toBe(9);
    for (let j = 0; j < 3; j++) expect(map.lookup(uri(`b${j}`))).toBeUndefined();
    expect(map.flow('b@lab.example')).toBeUndefined();
    for (const idc of ['a@lab.example', 'c@lab.example', 'd@lab.example']) {
      for (let j = 0; j < 3; j++) expect(map.lookup(uri(`${idc[0]}${j}`))).toBe(idc);
      expect(map.flow(idc)?.port).toBe(6000 + idcs.indexOf(idc));
    }
    expect(map.registeredByKs1(uri('a0'))).toBe(true);
    expect(map.registeredByKs1(uri('d0'))).toBe(false);

    // registers again, with one Contact of before and a new one
    map.bind('b@lab.example', uri('b1'), clock.t + 60_000);
    map.bind('b@lab.example', uri('b9'), clock.t + 60_000);
    map.seen('b@lab.example', src(7000));
    expect(map.lookup(uri('b1'))).toBe('b@lab.example');
    expect(map.lookup(uri('b9'))).toBe('b@lab.example');
    expect(map.flow('b@lab.example')?.port).toBe(7000);

    // the head of the list (the latest bound) and one in the middle of another IDc's go away
    map.unbindAll('a@lab.example');
    map.unbindAll('b@lab.example');
    expect(map.size).toBe(6);
    for (const u of ['a0', 'a1', 'a2', 'b1', 'b9']) expect(map.lookup(uri(u))).toBeUndefined();
    for (const u of ['c0', 'c1', 'c2']) expect(map.lookup(uri(u))).toBe('c@lab.example');
    for (const u of ['d0', 'd1', 'd2']) expect(map.lookup(uri(u))).toBe('d@lab.example');

    // unbinding an IDc with nothing bound, twice, touches nothing
    map.unbindAll('a@lab.example');
    map.unbindAll('nobody@lab.example');
    expect(map.size).toBe(6);
  });

  it('follows a Contact taken over by another IDc, refreshed, removed or expired before the de-registration', () => {
    const { clock, map } = clockedMap();
    for (const u of ['x1', 'x2', 'x3']) map.bind('x@lab.example', uri(u), clock.t + 60_000);
    for (const u of ['y1', 'y2']) map.bind('y@lab.example', uri(u), clock.t + 60_000);
    map.bind('y@lab.example', uri('x2'), clock.t + 60_000); // the middle of x's list moves to y
    map.bind('x@lab.example', uri('x1'), clock.t + 90_000); // refreshed
    map.bind('x@lab.example', uri('x3'), 0); // the latest bound, removed by its own REGISTER
    map.bind('y@lab.example', uri('y1'), clock.t + 1_000);
    clock.t += 2_000;
    expect(map.lookup(uri('y1'))).toBeUndefined(); // expired, dropped on lookup

    map.unbindAll('x@lab.example');
    expect(map.lookup(uri('x1'))).toBeUndefined();
    expect(map.lookup(uri('x2'))).toBe('y@lab.example');
    expect(map.lookup(uri('y2'))).toBe('y@lab.example');
    expect(map.size).toBe(2);

    map.unbindAll('y@lab.example');
    expect(map.size).toBe(0);
  });

  it('keeps each IDc’s Contacts right through eviction at the cap and the sweep', () => {
    const { clock, map } = clockedMap(4);
    map.bind('p@lab.example', uri('p1'), clock.t + 1_000);
    map.bind('q@lab.example', uri('q1'), clock.t + 60_000);
    map.bind('p@lab.example', uri('p2'), clock.t + 60_000);
    map.bind('q@lab.example', uri('q2'), clock.t + 60_000);
    map.seen('p@lab.example', src(6001));
    map.seen('q@lab.example', src(6002));
    map.bind('r@lab.example', uri('r1'), clock.t + 60_000); // evicts p1, the oldest
    expect(map.lookup(uri('p1'))).toBeUndefined();
    expect(map.lookup(uri('p2'))).toBe('p@lab.example');

    clock.t += 120_000;
    map.bind('q@lab.example', uri('q2'), clock.t + 60_000);
    map.sweep(); // p2, q1 and r1 expired: p has no Contact left, so no flow
    expect(map.size).toBe(1);
    expect(map.flow('p@lab.example')).toBeUndefined();
    expect(map.flow('q@lab.example')?.port).toBe(6002);

    map.bind('p@lab.example', uri('p3'), clock.t + 60_000);
    map.unbindAll('q@lab.example');
    expect(map.lookup(uri('q2'))).toBeUndefined();
    expect(map.flow('q@lab.example')).toBeUndefined();
    expect(map.lookup(uri('p3'))).toBe('p@lab.example');
  });

  it('at the cap of IDcs forgets the oldest IDc whole, its Contacts with its flow', () => {
    const { clock, map } = clockedMap(3);
    map.seen('o@lab.example', src(6001));
    map.bind('o@lab.example', uri('o1'), clock.t + 60_000);
    map.seen('m@lab.example', src(6002));
    map.bind('m@lab.example', uri('m1'), clock.t + 60_000);
    map.seen('n@lab.example', src(6003));
    map.seen('z@lab.example', src(6004)); // a fourth IDc: o goes
    expect(map.flow('o@lab.example')).toBeUndefined();
    expect(map.lookup(uri('o1'))).toBeUndefined();
    expect(map.size).toBe(1);
    expect(map.flow('z@lab.example')?.port).toBe(6004);
    map.unbindAll('m@lab.example');
    expect(map.size).toBe(0);
    expect(map.flow('n@lab.example')?.port).toBe(6003);
  });

  it('agrees with a plain model over any sequence of binds, expiries, sweeps and de-registrations', () => {
    const idcs = ['i0@lab.example', 'i1@lab.example', 'i2@lab.example'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('bind' as const), idc: fc.integer({ min: 0, max: 2 }), user: fc.integer({ min: 0, max: 4 }), ttl: fc.integer({ min: -1, max: 3 }) }),
      fc.record({ kind: fc.constant('unbind' as const), idc: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant('tick' as const) }),
      fc.record({ kind: fc.constant('sweep' as const) }),
      fc.record({ kind: fc.constant('lookup' as const), user: fc.integer({ min: 0, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { clock, map } = clockedMap(4);
        const model = new Map<string, { idc: string; expiresAt: number }>(); // insertion order as the map's
        for (const o of ops) {
          if (o.kind === 'bind') {
            const k = `u${o.user}`;
            const until = o.ttl < 0 ? 0 : clock.t + o.ttl * 1000 + 1;
            map.bind(idcs[o.idc]!, uri(k), until);
            if (until <= clock.t) model.delete(k);
            else if (model.has(k)) model.set(k, { idc: idcs[o.idc]!, expiresAt: until });
            else {
              if (model.size >= 4) model.delete(model.keys().next().value!);
              model.set(k, { idc: idcs[o.idc]!, expiresAt: until });
            }
          } else if (o.kind === 'unbind') {
            map.unbindAll(idcs[o.idc]!);
            for (const [k, e] of model) if (e.idc === idcs[o.idc]) model.delete(k);
          } else if (o.kind === 'tick') clock.t += 1000;
          else if (o.kind === 'sweep') {
            map.sweep();
            for (const [k, e] of model) if (e.expiresAt <= clock.t) model.delete(k);
          } else {
            const k = `u${o.user}`;
            const e = model.get(k);
            const live = e && e.expiresAt > clock.t ? e.idc : undefined;
            if (e && !live) model.delete(k);
            expect(map.lookup(uri(k))).toBe(live);
          }
          expect(map.size).toBe(model.size);
        }
        for (let u = 0; u < 5; u++) {
          const e = model.get(`u${u}`);
          expect(map.lookup(uri(`u${u}`))).toBe(e && e.expiresAt > clock.t ? e.idc : undefined);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
