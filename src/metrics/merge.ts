/**
 * One Prometheus exposition out of several processes' (`keyswitch up` runs
 * each role in its own process and serves them all at metrics.address).
 *
 * A metric only one process has keeps its name and labels as
 * docs/metrics.md lists them. A metric several processes have (the process
 * and Node.js metrics every process collects) is written once, HELP and TYPE
 * once, each sample with a `role` label naming its process: two samples with
 * the same name and labels would be invalid, and summing CPU or heap across
 * processes would hide which role uses it.
 */

export interface Exposition {
  /** The process's role, the value of the `role` label on shared metrics. */
  role: string;
  text: string;
}

interface Family {
  help: string | undefined;
  type: string | undefined;
  samples: Map<string, string[]>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

export function mergeExpositions(parts: readonly Exposition[]): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help: undefined, type: undefined, samples: new Map() }));
    return f;
  };
  for (const part of parts) {
    let current: Family | undefined;
    for (const line of part.text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: |$)/.exec(line);
      if (meta) {
        current = family(meta[2]!);
        if (meta[1] === 'HELP') current.help ??= line;
        else current.type ??= line;
        continue;
      }
      if (line.startsWith('#')) continue;
      // a sample line belongs to the family last announced (histogram _bucket, _sum, _count included)
      const f = current ?? family(NAME.exec(line)?.[0] ?? line);
      let list = f.samples.get(part.role);
      if (!list) f.samples.set(part.role, (list = []));
      list.push(line);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.help) out.push(f.help);
    if (f.type) out.push(f.type);
    const shared = f.samples.size > 1;
    for (const [role, lines] of f.samples) for (const l of lines) out.push(shared ? withRole(l, role) : l);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** `name{a="b"} 1` → `name{role="x",a="b"} 1`; `name 1` → `name{role="x"} 1`. */
function withRole(line: string, role: string): string {
  const name = NAME.exec(line)?.[0];
  if (!name) return line;
  const rest = line.slice(name.length);
  const label = `role="${role.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')}"`;
  return rest.startsWith('{') ? `${name}{${label}${rest.startsWith('{}') ? rest.slice(1) : `,${rest.slice(1)}`}` : `${name}{${label}}${rest}`;
}
