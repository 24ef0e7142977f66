/**
 * npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [--from 12.5] [--to 40] [--top 12]
 * npx tsx bench/cpuprofile-summary.ts <role.cpuprofile> --clock-from <µs> --clock-to <µs>
 *
 * Where a process's busy time went, from a `node --cpu-prof` profile (for
 * instance one written by `bench/compare.ts --cpu-prof DIR`): self time by
 * role and layer, then the functions with the most self time.
 *
 * A sample's layer is the nearest project folder on its stack, walking up
 * from the function that was running (src/sip, src/store, src/radius, …);
 * its role is the nearest role folder (src/sbc, src/softswitch, src/auc and
 * their adapters). Code reached from an I/O callback with no role frame above
 * it (the SIP stack parsing a datagram, a UDP send completing) has no role:
 * the SIP stack serves the SBC and the softswitch alike. Idle time is left
 * out; --from/--to (seconds since the process started) keep only a window,
 * so that start-up is not counted. --clock-from/--clock-to give the window in
 * the profile's own clock (CLOCK_MONOTONIC µs, which process.hrtime reads),
 * as bench:compare prints it for the role processes `keyswitch up` forks.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const HELP = `npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [options]

Where a process's busy time went, from a \`node --cpu-prof\` profile (such as
one that bench:compare --cpu-prof or bench:register --cpu-prof writes): self
time by role and layer, then the functions with the most self time. Idle
time is left out.

  --from S        keep samples from S seconds after the process started (default 0)
  --to S          keep samples up to S seconds after it started (default: the end)
  --clock-from U  keep samples from U µs of the profile's own clock (CLOCK_MONOTONIC,
                  as bench:compare prints it for the roles keyswitch up forks)
  --clock-to U    keep samples up to U µs of that clock
  --top N         functions listed (default 15)
  -h, --help      this text
`;
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}

function parsed() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        from: { type: 'string', default: '0' },
        to: { type: 'string', default: 'Infinity' },
        'clock-from': { type: 'string' },
        'clock-to': { type: 'string' },
        top: { type: 'string', default: '15' },
      },
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
}
const { values: args, positionals } = parsed();
if (!positionals[0]) {
  process.stderr.write(HELP);
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
const from = args['clock-from'] ? Number(args['clock-from']) - profile.startTime : Number(args.from) * 1e6;
const to = args['clock-to'] ? Number(args['clock-to']) - profile.startTime : Number(args.to) * 1e6;
const top = Number(args.top);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Path inside the project's src/, or undefined. */
function srcPath(url: string): string | undefined {
  const i = url.lastIndexOf('/src/');
  return i >= 0 && !url.includes('/node_modules/') ? url.slice(i + 5) : undefined;
}

function roleOf(path: string): string | undefined {
  if (/^sbc\/|^adapters\/sip\/sbc-/.test(path)) return 'SBC';
  if (/^softswitch\/|^adapters\/sip\/softswitch-/.test(path)) return 'softswitch';
  if (/^auc\//.test(path)) return 'AuC';
  if (/^cli\//.test(path)) return 'cli';
  return undefined;
}

function layerOf(frame: CallFrame): string | undefined {
  const p = srcPath(frame.url);
  if (p) return `src/${p.includes('/') ? p.slice(0, p.indexOf('/')) : p}`;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (!m) return undefined;
  // knex runs its queries through tarn (pool) and lodash; better-sqlite3's native time shows in knex's _query
  return ['knex', 'tarn', 'lodash', 'better-sqlite3'].includes(m[1]!) ? 'knex + better-sqlite3 (SQL run natively inside)' : `package ${m[1]}`;
}

const where = (f: CallFrame) => {
  const p = srcPath(f.url) ?? (/node_modules\/(.*)$/.exec(f.url)?.[1] ?? f.url.replace(/^file:\/\/.*\//, ''));
  return p ? `${p}:${f.lineNumber + 1}` : '';
};

interface Attribution {
  role: string;
  layer: string;
}
const cache = new Map<number, Attribution>();
function attribute(id: number): Attribution {
  const hit = cache.get(id);
  if (hit) return hit;
  const leaf = byId.get(id)!.callFrame;
  let role: string | undefined;
  let layer: string | undefined;
  for (let cur: number | undefined = id; cur !== undefined && !(role && layer); cur = parent.get(cur)) {
    const f = byId.get(cur)!.callFrame;
    layer ??= layerOf(f);
    const p = srcPath(f.url);
    if (p) role ??= roleOf(p);
  }
  if (leaf.functionName === '(garbage collector)') layer = 'GC';
  else if (leaf.functionName === '(program)') layer = 'V8/native (program)';
  else layer ??= leaf.url.startsWith('node:') ? 'Node internals' : 'native';
  const a = { role: role ?? '(no role frame)', layer };
  cache.set(id, a);
  return a;
}

let t = profile.startTime;
let busy = 0;
let first = Infinity;
let last = 0;
const byRole = new Map<string, number>();
const byRoleLayer = new Map<string, number>();
const byLayer = new Map<string, number>();
const byFunction = new Map<string, { us: number; role: string }>();
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  t += dt;
  const since = t - profile.startTime;
  if (since < from || since > to) continue;
  const node = byId.get(profile.samples[i]!)!;
  if (node.callFrame.functionName === '(idle)') continue;
  first = Math.min(first, since);
  last = Math.max(last, since);
  busy += dt;
  const a = attribute(node.id);
  byRole.set(a.role, (byRole.get(a.role) ?? 0) + dt);
  const rl = `${a.role}\t${a.layer}`;
  byRoleLayer.set(rl, (byRoleLayer.get(rl) ?? 0) + dt);
  byLayer.set(a.layer, (byLayer.get(a.layer) ?? 0) + dt);
  const fn = `${node.callFrame.functionName || '(anonymous)'} ${where(node.callFrame)}`.trim();
  const f = byFunction.get(fn) ?? { us: 0, role: a.role };
  f.us += dt;
  byFunction.set(fn, f);
}

const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
console.log(`${positionals[0]}: ${(busy / 1e6).toFixed(2)} s busy between ${(first / 1e6).toFixed(1)} s and ${(last / 1e6).toFixed(1)} s of the process's life`);
console.log('\nself time by role, then by layer (nearest project folder on the stack)');
for (const [role, us] of [...byRole].sort((a, b) => b[1] - a[1])) {
  console.log(`${pct(us)}  ${role}`);
  for (const [rl, lus] of [...byRoleLayer].filter(([k]) => k.startsWith(`${role}\t`)).sort((a, b) => b[1] - a[1])) {
    if (lus / busy >= 0.005) console.log(`          ${pct(lus)}  ${rl.split('\t')[1]}`);
  }
}
console.log('\nself time by layer, all roles');
for (const [layer, us] of [...byLayer].sort((a, b) => b[1] - a[1])) if (us / busy >= 0.005) console.log(`${pct(us)}  ${layer}`);
console.log(`\ntop ${top} functions by self time`);
for (const [fn, f] of [...byFunction].sort((a, b) => b[1].us - a[1].us).slice(0, top)) console.log(`${pct(f.us)}  ${fn}  [${f.role}]`);
