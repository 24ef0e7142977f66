/**
 * CPU and memory of a server and every process under it, read from /proc
 * (Linux only): Kamailio forks its workers, so the main process alone would
 * miss almost all of its work. CPU of live processes is read directly; a
 * child's CPU reaches its parent's cutime only when reaped, so both readings
 * of a measurement must be taken while the processes live.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture Node runs on

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone
  }
}

/** `root` and all its descendants alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]); // field 4 of stat: state is field 3
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** User + system CPU seconds of these processes (all threads), those that are gone count 0. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15 of stat
  }
  return ticks / TICKS_PER_SECOND;
}

/** A process's name as it shows in ps: its title (`keyswitch up: sbc`) or its command line. */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Memory of the processes: the largest RSS of one process, and the sum of
 * their PSS (shared pages divided among the processes that map them, so
 * Kamailio's shared memory segment is counted once, not once per worker).
 */
export function memoryKiB(pids: number[]): { maxRss: number; pssSum: number } {
  let maxRss = 0;
  let pssSum = 0;
  for (const pid of pids) {
    try {
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (rss) maxRss = Math.max(maxRss, Number(rss[1]));
      const pss = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (pss) pssSum += Number(pss[1]);
    } catch {
      // gone
    }
  }
  return { maxRss, pssSum };
}

/** Load average over the last minute: the figures are only as good as the machine was quiet. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}
