/**
 * `up.semiSpaceMb` (src/cli/up-supervisor.ts): every role process of `keyswitch up`
 * runs with V8's semi-space fixed at that size, read back from the merged /metrics
 * (prom-client's `nodejs_heap_space_size_total_bytes`, the young generation being
 * two semi-spaces); a size given to `node` itself is kept as given.
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
    for (const role of ['auc', 'softswitch', 'sbc']) expect(sample(samples, 'nodejs_heap_space_size_total_bytes', { role, space: 'new' }), role).toBe(64 * MIB);
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
