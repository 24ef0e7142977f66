/**
 * The softswitch's view of one SBC pool (src/softswitch/sbc-pool.ts): the order in which a
 * request for a hop at one instance tries the instances, and an instance that gave no answer
 * tried last for a while, then first again.
 */
import { describe, expect, it } from 'vitest';
import { SbcPool } from '../../src/softswitch/sbc-pool.js';

const A = { host: '10.77.0.31', port: 5080 };
const B = { host: '10.77.0.32', port: 5080 };
const C = { host: '10.77.0.33', port: 5080 };
const ports = (l: Array<{ address: string; port: number }> | undefined) => l?.map((d) => `${d.address}:${d.port}`);

describe('SBC pool', () => {
  it('a hop at an instance: that instance, then the others in pool order after it; anything else is no instance', () => {
    const pool = new SbcPool([A, B, C]);
    expect(ports(pool.order(A.host, A.port))).toEqual(['10.77.0.31:5080', '10.77.0.32:5080', '10.77.0.33:5080']);
    expect(ports(pool.order(B.host, B.port))).toEqual(['10.77.0.32:5080', '10.77.0.33:5080', '10.77.0.31:5080']);
    expect(pool.order('10.77.0.31', 5060)).toBeUndefined();
    expect(pool.order('192.0.2.1', 5080)).toBeUndefined();
    expect(new SbcPool([A]).order(A.host, A.port)).toBeUndefined();
    expect(pool.order(A.host, A.port, 'tcp')?.every((d) => d.protocol === 'tcp')).toBe(true);
  });

  it('an instance that gave no answer is tried last until its time is up', () => {
    let t = 1_000_000;
    const pool = new SbcPool([A, B, C], 30_000, () => t);
    expect(pool.markDown(A.host, A.port)).toBe(true);
    expect(pool.markDown(A.host, A.port)).toBe(false); // already down: said once
    expect(ports(pool.order(A.host, A.port))).toEqual(['10.77.0.32:5080', '10.77.0.33:5080', '10.77.0.31:5080']);
    expect(ports(pool.order(C.host, C.port))).toEqual(['10.77.0.33:5080', '10.77.0.32:5080', '10.77.0.31:5080']);
    t += 30_000;
    expect(ports(pool.order(A.host, A.port))).toEqual(['10.77.0.31:5080', '10.77.0.32:5080', '10.77.0.33:5080']);
    expect(pool.markDown('192.0.2.1', 5080)).toBe(false);
  });
});
