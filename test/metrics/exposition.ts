/** Reading Prometheus exposition text in tests: every line checked against the 0.0.4 format. */
import { expect } from 'vitest';

/** Samples of an exposition, `name{labels}` → value; every line checked against the 0.0.4 text format. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      expect(typed.has(t[1]!), `TYPE ${t[1]} twice`).toBe(false);
      typed.add(t[1]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([^ ]+)$/.exec(line);
    expect(m, `not a sample line: ${JSON.stringify(line)}`).not.toBeNull();
    const value = m![3] === 'NaN' ? NaN : m![3] === '+Inf' ? Infinity : m![3] === '-Inf' ? -Infinity : Number(m![3]);
    expect(Number.isNaN(value) && m![3] !== 'NaN', `bad value in ${line}`).toBe(false);
    out.set(m![1]! + (m![2] ?? ''), value);
  }
  return out;
}

/** The value of one sample, by name and the labels it must carry (others ignored); summed when several match. */
export function sample(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const [key, v] of samples) {
    const m = /^([^{]+)(?:\{(.*)\})?$/.exec(key)!;
    if (m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, want]) => have[k] === want)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : NaN;
}
