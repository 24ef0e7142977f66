/**
 * Named points where the crash-safety tests kill the process, as a power cut
 * or `kill -9` would: `KEYSWITCH_CRASH_AT=<name>` kills it at the first pass
 * through that point, `<name>@<n>` at the n-th. Unset (always, outside those
 * tests) it costs one environment lookup. Points: import:created (a terminal
 * of an import committed), rotate:key-written, rotate:resealing,
 * rotate:committed, rotate:backup-linked (docs/auc.md, "Master-key rotation"),
 * registrar:copied (the bindings copied into registrar.sqlite, not yet dropped
 * from keyswitch.sqlite: migration 009).
 */
const hits = new Map<string, number>();

export function crashPoint(name: string): void {
  const at = process.env.KEYSWITCH_CRASH_AT;
  if (!at) return;
  const [point, nth] = at.split('@');
  if (point !== name) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
