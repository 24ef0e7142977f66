/**
 * `KEYSWITCH_CHILD_CPU_PROF_DIR` (src/cli/up-supervisor.ts, used by
 * `bench:compare --cpu-prof`): each role process of `keyswitch up` runs under
 * `node --cpu-prof` and writes its own profile into its own directory when it
 * stops — the roles' work is in them, not in the supervisor's.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startUp } from '../helpers/up.js';

const profDir = mkdtempSync(join(tmpdir(), 'ks-cpu-prof-'));
afterAll(() => rmSync(profDir, { recursive: true, force: true }));

it('writes one main-thread profile per role process when the roles stop', async () => {
  const up = await startUp({ prefix: 'ks-cpu-prof-up-', env: { KEYSWITCH_CHILD_CPU_PROF_DIR: profDir } });
  await up.stop();
  const dirs = readdirSync(profDir);
  for (const role of ['auc', 'softswitch', 'sbc']) {
    const own = dirs.filter((d) => new RegExp(`^keyswitch-${role}-\\d+-\\d+$`).test(d));
    expect(own, role).toHaveLength(1);
    // Node's own names; thread 0 is the main thread (a loader thread writes its own file beside it)
    expect(readdirSync(join(profDir, own[0]!)).filter((f) => /^CPU\..*\.0\.\d+\.cpuprofile$/.test(f)), role).toHaveLength(1);
  }
});
