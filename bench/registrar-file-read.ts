/**
 * npx tsx bench/registrar-file-read.ts [--reads 20000] [--rounds 5]
 *
 * What another process's binding commit costs the AuC's next read, in process
 * (no network, no second process on the shared cores): the AuC's Digest read
 * (`hot.digestRow`, the statement the AuC runs per Digest request) timed
 * alone, each read after
 * - `none`: nothing in between;
 * - `binding`: a binding upsert committed by another connection into the file
 *   that holds `sip_bindings` (registrar.sqlite since migration 009,
 *   keyswitch.sqlite before: run it in both trees);
 * - `main`: a commit by another connection into keyswitch.sqlite (an
 *   `auth_failures` row of another IDc), for reference: what any commit to
 *   the AuC's file costs its next read.
 * Prints the median and the mean per read of each, in µs, per round, and the
 * median of the rounds' medians. Figures move with the machine's load.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/index.js';

const { values: a } = parseArgs({ options: { reads: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
const reads = Number(a.reads);
const TERMINALS = 1000;
const idcOf = (i: number): string => `u${i}@bench.example`;

const dataDir = mkdtempSync(join(tmpdir(), 'ks-bench-regfile-'));
const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex'), onNotice: () => undefined });
try {
  for (let i = 0; i < TERMINALS; i++) await store.terminals.create(idcOf(i), randomBytes(32), `pw-${i}`);
  const main = new Database(join(dataDir, 'keyswitch.sqlite'));
  const bindingsInMain = main.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sip_bindings'").get() !== undefined;
  const other = bindingsInMain ? main : new Database(join(dataDir, 'registrar.sqlite'));
  for (const db of [main, other]) {
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
  }
  const putBinding = other.prepare(
    'INSERT INTO sip_bindings (aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at) ' +
      "VALUES (?, 'sip:bench@127.0.0.1:5070', 1000, ?, ?, 1, '127.0.0.1:5070', 'softswitch.bench', '', '', NULL, ?, ?) " +
      'ON CONFLICT (aor, contact) DO UPDATE SET expires_at = excluded.expires_at, call_id = excluded.call_id, updated_at = excluded.updated_at',
  );
  const putMain = main.prepare(
    "INSERT INTO auth_failures (idc, count, window_start, lockouts, locked_until, updated_at) VALUES ('bench-other@bench.example', 1, 0, 0, 0, ?) " +
      'ON CONFLICT (idc) DO UPDATE SET updated_at = excluded.updated_at',
  );
  const between: Record<string, ((i: number) => void) | undefined> = {
    none: undefined,
    binding: (i) => {
      const t = Date.now();
      putBinding.run(`sip:${idcOf(i % TERMINALS)}`, t + 60_000, `c${i}`, t, t);
    },
    main: (i) => void putMain.run(i),
  };
  console.log(`AuC Digest read (hot.digestRow), ${TERMINALS} terminals, ${reads} reads a round; bindings in ${bindingsInMain ? 'keyswitch.sqlite' : 'registrar.sqlite'}`);
  const medians: Record<string, number[]> = { none: [], binding: [], main: [] };
  const times = new Float64Array(reads);
  for (let round = 0; round <= Number(a.rounds); round++) {
    const line: string[] = [];
    for (const [name, write] of Object.entries(between)) {
      for (let i = 0; i < reads; i++) {
        write?.(i);
        const idc = idcOf((i * 7) % TERMINALS);
        const t0 = process.hrtime.bigint();
        const p = store.hot.digestRow(idc);
        times[i] = Number(process.hrtime.bigint() - t0) / 1000;
        await p;
      }
      const sorted = Array.from(times).sort((x, y) => x - y);
      const median = sorted[reads >> 1]!;
      const mean = sorted.reduce((s, x) => s + x, 0) / reads;
      line.push(`${name} ${median.toFixed(2)} (mean ${mean.toFixed(2)})`);
      if (round > 0) medians[name]!.push(median);
    }
    // round 0 warms up (JIT, page cache) and is not counted
    if (round > 0) console.log(`round ${round}: µs per read, median: ${line.join(', ')}`);
  }
  const mid = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!;
  console.log(`median of rounds, µs per read: none ${mid(medians.none!).toFixed(2)}, after a binding commit ${mid(medians.binding!).toFixed(2)}, after a commit to keyswitch.sqlite ${mid(medians.main!).toFixed(2)}`);
  if (other !== main) other.close();
  main.close();
} finally {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}
