/**
 * The intrusion detection writes its blocks beside the signature guard's:
 * an identity block's source is `id:<identity>` (identities go to 255
 * characters) and its reason names a rule. PostgreSQL refused these with
 * 22001 while the columns were sized for an IPv4 address (migration 008).
 */
import { afterAll, expect, it } from 'vitest';
import { describeEngines } from './helpers/engines.js';

const T0 = 1_700_000_000_000;

describeEngines('SBC blocks in the store', (ctx) => {
  afterAll(() => ctx.cleanup());

  it('keeps an identity block of a 255-character identity, a v6 flow, and a rule\'s reason', async () => {
    const store = await ctx.open({ now: () => T0 });
    const identity = `id:${'a'.repeat(243)}@lab.example`;
    const v6 = '[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535';
    const reason = 'brute force: failed authentications of one identity from strangers';
    for (const source of [identity, v6]) {
      await store.sbcState.recordBlock('sbc-1', { source, idsp: 'sbc1.lab.example', reason, failures: 3, windowMs: 60_000, blockedAt: T0, expiresAt: T0 + 600_000 });
    }
    const page = await store.sbcState.blocks(0, 10);
    expect(page.items.map((b) => [b.source, b.reason]).sort()).toEqual([[identity, reason], [v6, reason]].sort());
  });
});
