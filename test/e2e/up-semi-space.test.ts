/**
 * `up.semiSpaceMb` (src/cli/up-supervisor.ts): every role process of `keyswitch up`
 * runs with V8's semi-space fixed at that size, read back from the merged /metrics
 * (prom-client's `nodejs_heap_space_size_*_bytes` of the new space: a semi-space's
 * capacity is its used plus available bytes); a size given to `node` itself is kept as given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { semiSpace } from '../../src/cli/up-supervisor.js';
import { startUp, type Up } from '../helpers/up.js';
import { parseMetrics, sample } from '../metrics/exposition.js';

const MIB = 1024 * 1024;

describe('keyswitch up: the role processes\' young generation [sqlite]', () => {
  let up: Up;
  beforeAll(async () => {
    up = await startUp({ prefix: 'ks-semi-space-' });
  });
  afterAll(async () => {
    await up?.stop();
  });

  it('runs every role with the default 32 MiB semi-space (64 MiB of new space) from the start', async () => {
    const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${up.ports.metrics}/metrics`)).text());
    for (const role of ['auc', 'softswitch', 'sbc']) {
      const space = (name: string) => sample(samples, `nodejs_heap_space_size_${name}_bytes`, { role, space: 'new' })!;
      // V8 commits the second semi-space at the first young collection: a role that has had none shows one
      expect([32 * MIB, 64 * MIB], role).toContain(space('total'));
      // what a semi-space holds, used or not, less what V8 reserves in it; V8's own default grows to 16 MiB at most
      const capacity = space('used') + space('available');
      expect(capacity, role).toBeGreaterThan(31 * MIB);
      expect(capacity, role).toBeLessThanOrEqual(32 * MIB);
    }
  });
});

describe('semiSpace', () => {
  it('fixes both bounds at the size', () => {
    expect(semiSpace([], 32)).toEqual(['--min-semi-space-size=32', '--max-semi-space-size=32']);
  });

  it('adds nothing for 0 (Node\'s default) or when node was given a semi-space size of its own', () => {
    expect(semiSpace([], 0)).toEqual([]);
    expect(semiSpace(['--max-semi-space-size=64'], 32)).toEqual([]);
    expect(semiSpace(['--enable-source-maps', '--min_semi_space_size=8'], 32)).toEqual([]);
    expect(semiSpace(['--enable-source-maps'], 16)).toEqual(['--min-semi-space-size=16', '--max-semi-space-size=16']);
  });
});
