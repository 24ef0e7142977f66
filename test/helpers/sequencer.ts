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
  'test/e2e/operations-up.test.ts': 70,
  'test/cli/operator-keys.test.ts': 69,
  'test/cli/cli.test.ts': 60,
  'test/e2e/ids-attacks.test.ts': 52,
  'test/e2e/up.test.ts': 48,
  'test/auc/report-replay-wire.test.ts': 48,
  'test/cli/operator-commands.test.ts': 47,
  'test/e2e/start-failures.test.ts': 44,
  'test/h323/fuzz.test.ts': 38,
  'test/e2e/operations-split.test.ts': 33,
  'test/terminal/deadline.test.ts': 33,
  'test/media/voicemail-up.test.ts': 32,
  'test/metrics/up-metrics.test.ts': 30,
  'test/e2e/oracles.test.ts': 29,
  'test/media/media-server.test.ts': 27,
  'test/lab/netns.test.ts': 24,
  'test/e2e/restart-calls.test.ts': 23,
  'test/h323/up.test.ts': 21,
  'test/metrics/roles-alone.test.ts': 20,
  'test/diameter/up-peers.test.ts': 18,
  'test/sbc/third-party-up.test.ts': 16,
  'test/e2e/health-and-api.test.ts': 16,
  'test/diameter/roles-tls.test.ts': 16,
  'test/terminal/voicemail-cli.test.ts': 16,
  'test/voicemail/licence-api.test.ts': 15,
  'test/metrics/logs.test.ts': 14,
  'test/h323/properties.test.ts': 12,
  'test/voicemail/web.test.ts': 12,
  'test/console/browser.test.ts': 10,
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
