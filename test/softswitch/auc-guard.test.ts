/**
 * The softswitch's bound on its queue toward the AuC (src/softswitch/auc-guard.ts,
 * overload.softswitchAucInFlight): with that many requests unanswered the next
 * fails at once as AucUnavailableError (the REGISTER gets 503 Retry-After now,
 * not a timeout later), counted; once answers come back requests go through
 * again; a late answer after the deadline frees its place too.
 */
import { describe, expect, it } from 'vitest';
import { AucUnavailableError, type AucService } from '../../src/contracts/auc.js';
import { boundedAuc } from '../../src/softswitch/auc-guard.js';

/** An AuC whose answers the test releases one by one. */
function slowAuc() {
  const waiting: Array<() => void> = [];
  const answer = <T>(v: T) => new Promise<T>((resolve) => waiting.push(() => resolve(v)));
  const auc = {
    vector: () => answer({ ok: true }),
    digest: () => answer({ ok: true }),
    registered: () => answer(undefined),
    deregistered: () => answer(undefined),
    failed: () => answer({ locked: false }),
  } as unknown as AucService;
  return { auc, waiting, releaseOne: () => waiting.shift()?.() };
}

const req = {} as never;

describe('softswitch: the queue toward the AuC is bounded', () => {
  it('refuses the request past maxInFlight at once, counted, and takes requests again as answers come back', async () => {
    const s = slowAuc();
    let shed = 0;
    const auc = boundedAuc(s.auc, 60_000, 3, () => shed++);
    const inFlight = [auc.vector(req), auc.digest(req), auc.registered(req)];
    await expect(auc.vector(req)).rejects.toBeInstanceOf(AucUnavailableError);
    await expect(auc.failed(req)).rejects.toThrow(/3 requests to the AuC in flight/);
    expect(shed).toBe(2);
    expect(s.waiting).toHaveLength(3); // the refused ones never reached the AuC
    s.releaseOne();
    await inFlight[0];
    const next = auc.vector(req);
    expect(s.waiting).toHaveLength(3);
    while (s.waiting.length) s.releaseOne();
    await Promise.all([...inFlight, next]);
    expect(shed).toBe(2);
  });

  it('frees the place of a request whose answer is late (it failed already with the timeout)', async () => {
    const s = slowAuc();
    const auc = boundedAuc(s.auc, 20, 1);
    await expect(auc.vector(req)).rejects.toThrow(/no AuC answer within 20 ms/);
    const second = auc.vector(req);
    s.releaseOne(); // the late answer of the first: ignored
    s.releaseOne();
    await expect(second).resolves.toEqual({ ok: true });
  });

  it('has no bound with maxInFlight 0 (as before)', async () => {
    const s = slowAuc();
    const auc = boundedAuc(s.auc, 60_000);
    const all = Array.from({ length: 50 }, () => auc.vector(req));
    expect(s.waiting).toHaveLength(50);
    while (s.waiting.length) s.releaseOne();
    await Promise.all(all);
  });
});
