/**
 * The intrusion detection at the SBC's MGCP relay: registrations that fail
 * (a wrong key) and succeed reach it as outcomes; three failures from one
 * gateway block it, and its next registration gets no answer while another
 * gateway still registers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile } from '../../src/ids/load.js';
import { shippedRules } from '../../src/ids/service.js';
import type { IdsOutcome } from '../../src/ids/types.js';
import { startLab, type Lab } from '../mgcp/lab.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

describe('intrusion detection at the MGCP relay', () => {
  it('wrong keys are failures; the third blocks that gateway; another gateway registers', async () => {
    const ids = new IdsEngine({ rules: loadRuleFile(shippedRules()) });
    const outcomes: IdsOutcome[] = [];
    const sink = { inspect: ids.inspect.bind(ids), outcome: (o: IdsOutcome) => (outcomes.push(o), ids.outcome(o)) };
    lab = await startLab({ relay: { ids: sink } });
    lab.provision('gw1@lab.example');
    const bad = await lab.gateway({ idc: 'gw1@lab.example', kc: Buffer.alloc(32, 7), timeoutMs: 1500 });
    for (let i = 0; i < 3; i++) expect((await bad.register()).ok).toBe(false);
    expect(outcomes.filter((o) => o.kind === 'auth-failure' && o.mechanism === 'ks1' && o.protocol === 'mgcp').length).toBeGreaterThanOrEqual(3);
    expect(ids.blocks().map((b) => b.scope)).toContain('flow');
    expect(await bad.register()).toMatchObject({ ok: false });
    const good = await lab.gateway({ idc: 'gw2@lab.example', kc: lab.provision('gw2@lab.example') });
    expect((await good.register()).ok).toBe(true);
    expect(outcomes.some((o) => o.kind === 'auth-success' && o.identity === 'gw2@lab.example')).toBe(true);
  });
});
