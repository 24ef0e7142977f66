/**
 * The order test files start in: longest first, so that with several workers
 * the run does not end on one long file started last (vitest.config.ts).
 *
 * A file's length is what vitest measured on this checkout's last run of it
 * (its results cache, in node_modules/.vite), else the rough figure below —
 * a fresh clone (CI, scripts/ci-node.sh's copy) has no cache, and vitest
 * would then order by file size, which says little about time. The figures
 * are relative seconds from one run of the whole suite on a loaded 2-core
 * machine; only their order matters. A file not listed and not cached comes
 * after those that are, larger files first.
 */
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'test/cli/operator-keys.test.ts': 78,
  'test/e2e/ids-attacks.test.ts': 56,
  'test/e2e/operations-up.test.ts': 46,
  'test/scale-out/softswitch-loss.test.ts': 42,
  'test/auc/report-replay-wire.test.ts': 47,
  'test/cli/operator-commands.test.ts': 34,
  'test/media/voicemail-up.test.ts': 34,
  'test/e2e/operations-split.test.ts': 33,
  'test/media/media-server.test.ts': 27,
  'test/softswitch/redis-lagging-replica.test.ts': 23,
  'test/e2e/up.test.ts': 22,
  'test/e2e/up-supervision.test.ts': 22,
  'test/h323/up.test.ts': 22,
  'test/e2e/start-failures.test.ts': 21,
  'test/metrics/up-metrics.test.ts': 18,
  'test/cli/cli.test.ts': 17,
  'test/terminal/voicemail-cli.test.ts': 17,
  'test/e2e/health-and-api.test.ts': 15,
  'test/sbc/third-party-up.test.ts': 14,
  'test/lab/netns.test.ts': 12,
  'test/h323/fuzz.test.ts': 11,
  'test/terminal/deadline.test.ts': 11,
  'test/ids/shared-sbc.test.ts': 21,
  'test/console/browser.test.ts': 10,
  'test/scale-out/pool.test.ts': 9,
  'test/scale-out/shared-state.test.ts': 9,
  'test/scale-out/sbc-loss-reach.test.ts': 8,
  'test/e2e/oracles.test.ts': 8,
  'test/e2e/restart-calls.test.ts': 8,
  'test/voicemail/web-up.test.ts': 8,
  'test/e2e/connection-flood.test.ts': 7,
  'test/radius/clients.test.ts': 7,
};

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const weight = new Map<TestSpecification, [number, number]>();
    for (const f of files) {
      const path = relative(root, f.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${f.project.name}:${path}`)?.duration;
      const seconds = cached !== undefined ? cached / 1000 : (SECONDS[path] ?? 0);
      let size = 0;
      try {
        size = statSync(f.moduleId).size;
      } catch {
        // a file gone since it was listed: vitest reports it
      }
      weight.set(f, [seconds, size]);
    }
    return [...files].sort((a, b) => {
      const [sa, za] = weight.get(a)!;
      const [sb, zb] = weight.get(b)!;
      return sb - sa || zb - za;
    });
  }
}
