// Preload for a benchmark's processes: each second, the event loop's longest delay and every GC pause over 4 ms,
// appended to $KEYSWITCH_LOOP_DELAY_DIR/<role>-<pid>.txt. Usage (every Node process started with this environment):
//   KEYSWITCH_LOOP_DELAY_DIR=/tmp/eld NODE_OPTIONS="--import $PWD/bench/loop-delay-preload.mjs" npm run bench:register -- …
// GC kinds: 1 scavenge, 2 minor mark-compact, 4 mark-compact, 8 incremental marking, 16 weak callbacks.
import { appendFileSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const dir = process.env.KEYSWITCH_LOOP_DELAY_DIR;
if (dir) {
  mkdirSync(dir, { recursive: true });
  // a role process ends its command line with the role's name (keyswitch sbc); anything else is named by its script
  const last = process.argv[process.argv.length - 1] ?? '';
  const named = () => {
    // `keyswitch up` titles each role process once it starts (keyswitch up: sbc): read at the first write
    const up = /^keyswitch up: (\w+)/.exec(process.title)?.[1];
    const name = up ?? (/^[a-z]+$/.test(last) ? last : basename(process.argv[1] ?? 'node'));
    return `${dir}/${name.replace(/[^a-z0-9.]/gi, '_')}-${process.pid}.txt`;
  };
  let file;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const gcs = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration > 4) gcs.push(`${e.detail?.kind ?? '?'}:${e.duration.toFixed(1)}`);
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    const ms = (ns) => (ns / 1e6).toFixed(1);
    file ??= named();
    appendFileSync(file, `${new Date().toISOString().slice(11, 19)} max ${ms(h.max)} p99 ${ms(h.percentile(99))} mean ${ms(h.mean)} gc>4ms ${gcs.join(',')}\n`);
    h.reset();
    gcs.length = 0;
  }, 1000).unref();
}
