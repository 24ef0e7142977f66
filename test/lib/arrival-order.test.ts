import { describe, expect, it } from 'vitest';
import { ArrivalOrder } from '../../src/lib/arrival-order.js';

function table(): { map: Map<string, { k: string }>; order: ArrivalOrder<string, { k: string }>; put: (k: string) => void } {
  const map = new Map<string, { k: string }>();
  const order = new ArrivalOrder(map);
  return {
    map,
    order,
    put: (k) => {
      const v = { k };
      map.set(k, v);
      order.push(k, v);
    },
  };
}

describe('ArrivalOrder', () => {
  it('shift deletes exactly the oldest entry still held, skipping the ones deleted by other means', () => {
    const { map, order, put } = table();
    for (let i = 0; i < 10; i++) put(`k${i}`);
    map.delete('k0');
    map.delete('k1');
    map.delete('k3');
    expect(order.peek()).toEqual({ k: 'k2' });
    expect(order.shift()).toEqual({ k: 'k2' });
    expect(order.shift()).toEqual({ k: 'k4' });
    expect([...map.keys()]).toEqual(['k5', 'k6', 'k7', 'k8', 'k9']);
  });

  it('an entry deleted and made again under its key is as young as its second making', () => {
    const { map, order, put } = table();
    put('a');
    put('b');
    map.delete('a');
    put('a');
    expect(order.shift()).toEqual({ k: 'b' });
    expect(order.shift()).toEqual({ k: 'a' });
    expect(map.size).toBe(0);
    expect(order.shift()).toBeUndefined();
    expect(order.peek()).toBeUndefined();
  });

  it('what it records stays within about twice the map plus 1024, whatever is deleted beside it, and the order survives compaction', () => {
    const { map, order, put } = table();
    put('old'); // one entry that outlives everything: the head never passes the rest
    for (let i = 0; i < 20_000; i++) {
      put(`k${i}`);
      if (i >= 100) map.delete(`k${i - 100}`); // calls ending by BYE
      expect(order.recorded).toBeLessThanOrEqual(2 * (map.size + 1) + 1024);
    }
    expect(map.size).toBe(101);
    expect(order.shift()).toEqual({ k: 'old' });
    expect(order.shift()).toEqual({ k: 'k19900' });
    for (let i = 0; i < 10_000; i++) {
      put(`n${i}`);
      order.shift();
      expect(order.recorded).toBeLessThanOrEqual(2 * (map.size + 1) + 1024);
    }
    expect(map.size).toBe(99);
    expect(order.peek()).toEqual({ k: 'n9901' });
  });
});
