/**
 * Reads the rule file, and reloads it on change or SIGHUP. A reload is
 * atomic: the new file is read and compiled whole before it replaces the
 * rules in force; a file that fails is refused with its error (line, rule,
 * field) and the old rules stay.
 */
import { closeSync, fstatSync, openSync, readSync, watch, type FSWatcher } from 'node:fs';
import { dirname, basename, resolve } from 'node:path';
import { compileRules, LIMITS, RuleFileError, type RuleSet } from './rules.js';

/** Reads at most the size cap (a huge or endless file is refused, not read whole). */
export function readRuleFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > LIMITS.fileBytes) throw new RuleFileError(`${path}: ${size} bytes, larger than ${LIMITS.fileBytes}`);
    const buf = Buffer.alloc(LIMITS.fileBytes + 1);
    let n = 0;
    for (let r = 1; r > 0 && n <= LIMITS.fileBytes; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > LIMITS.fileBytes) throw new RuleFileError(`${path}: larger than ${LIMITS.fileBytes} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export function loadRuleFile(path: string): RuleSet {
  return compileRules(readRuleFile(path), path);
}

export interface RuleWatcher {
  /** Reads the file again now; resolves with the error when it was refused. */
  reload(): { ok: true; rules: number } | { ok: false; error: string };
  close(): void;
}

/**
 * Watches `path` (its directory, so that an editor's rename-into-place is
 * seen) and listens for SIGHUP; each change is applied through `apply` once
 * it compiled. `onRefused` gets the error of a file that did not.
 */
export function watchRuleFile(
  path: string,
  apply: (set: RuleSet) => void,
  report: { onApplied?: (set: RuleSet) => void; onRefused?: (error: string) => void } = {},
  o: { signal?: boolean; debounceMs?: number } = {},
): RuleWatcher {
  const full = resolve(path);
  const reload = (): ReturnType<RuleWatcher['reload']> => {
    let set: RuleSet;
    try {
      set = loadRuleFile(full);
    } catch (e) {
      const error = (e as Error).message;
      report.onRefused?.(error);
      return { ok: false, error };
    }
    apply(set);
    report.onApplied?.(set);
    return { ok: true, rules: set.rules.length };
  };
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      reload();
    }, o.debounceMs ?? 200);
    timer.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(full), { persistent: false }, (_e, name) => {
      if (name === null || name.toString() === basename(full)) soon();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined;
  }
  const onHup = () => reload();
  if (o.signal !== false) process.on('SIGHUP', onHup);
  return {
    reload,
    close() {
      watcher?.close();
      if (timer) clearTimeout(timer);
      if (o.signal !== false) process.off('SIGHUP', onHup);
    },
  };
}
