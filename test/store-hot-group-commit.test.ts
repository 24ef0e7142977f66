import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { describeEngines } from './helpers/engines.js';

const T0 = 1_900_000_000_000;

describeEngines('store group commit', (ctx) => {
  afterAll(() => ctx.cleanup());
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  beforeEach(() => {
    warnings.length = 0;
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('warning', onWarning);
  });

  it('writes asked in one turn are committed together without a query queued behind a running one (pg 9 refuses that)', async () => {
    const store = await ctx.open({ now: () => T0 });
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.registrations.record({ idc: `q${i}@lab.example`, idsp: 'sbc1', ipc: '192.0.2.9', protocol: 'sip', contact: `sip:q${i}@192.0.2.9`, mechanism: '', expiresAt: T0 + 60_000 }),
    );
    await Promise.all(writes);
    // the warning is emitted on the next tick after the call that caused it
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 20; i++) expect((await store.registrations.forTerminal(`q${i}@lab.example`)).length).toBe(1);
    await store.close();
    expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
  });
});
