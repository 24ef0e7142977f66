/**
 * npx tsx bench/auc-digest.ts [--count 20000] [--concurrency 16] [--terminals 1000] [--writes 1|0|elsewhere] [--runs 3] [--pg URL]
 *
 * CPU of the AuC per SIP Digest request: the AuC core behind its RADIUS
 * server (as `keyswitch up` wires it, metrics included) answers Digest
 * Access-Requests (HA1) for provisioned terminals over loopback UDP. The
 * requests come from a child process, encoded and signed before the timed
 * run, so the figure (this process's user + system CPU divided by the
 * answers) is the AuC's alone: UDP receive, duplicate cache, decode,
 * Message-Authenticator check, the store's read, the vault's open, HA1, the
 * Digest grant, the answer's hiding, encoding and signatures, the send.
 *
 * `--writes 1` (default) has the child also upsert a SIP binding per request,
 * from its own connection, where the softswitch writes it: registrar.sqlite
 * since migration 009 (src/store/registrar-file.ts), keyswitch.sqlite in a
 * tree before it, where each such commit made the AuC's connection drop its
 * page cache (docs/performance.md). `--writes elsewhere` makes the same
 * upsert into the same table (same DDL) in a file of its own that no
 * connection of the AuC opens: what the child's write costs the AuC with no
 * store effect at all (the shared cores, the pace of the closed loop).
 * Closed loop, `--concurrency` requests in flight. The machine's other load
 * moves the figure: compare trees alternately (a worktree with this file
 * copied in).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: a } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    terminals: { type: 'string', default: '1000' },
    writes: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    pg: { type: 'string' },
    child: { type: 'string' },
  },
});

const SECRET = 'bench-radius-secret-0123456789';
const realm = 'bench.example';
const idcOf = (i: number): string => `u${i}@${realm}`;

/** The DDL of sip_bindings and its indexes in `file`, to make the same table elsewhere. */
async function schemaOf(file: string): Promise<string[]> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'sip_bindings' AND sql IS NOT NULL ORDER BY type DESC").all() as { sql: string }[]).map((r) => r.sql);
  } finally {
    db.close();
  }
}

/** The file that holds sip_bindings: the registrar's own file, or keyswitch.sqlite in a tree before migration 009. */
async function bindingsFile(dataDir: string): Promise<string> {
  const Database = (await import('better-sqlite3')).default;
  const main = new Database(join(dataDir, 'keyswitch.sqlite'), { readonly: true });
  try {
    return main.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sip_bindings'").get() ? join(dataDir, 'keyswitch.sqlite') : join(dataDir, 'registrar.sqlite');
  } finally {
    main.close();
  }
}

if (a.child !== undefined) await child(JSON.parse(a.child) as ChildArgs);
else await main();

interface ChildArgs {
  port: number;
  count: number;
  concurrency: number;
  terminals: number;
  sqlite?: string;
  /** The bindings table's DDL, to make the file with (`--writes elsewhere`). */
  create?: string[];
}

async function main(): Promise<void> {
  const { openStore } = await import('../src/store/index.js');
  const { Auc } = await import('../src/auc/auc.js');
  const { aucMetrics, observeAucService } = await import('../src/auc/metrics.js');
  const { MetricsRegistry } = await import('../src/metrics/index.js');
  const { startRadiusAucServer } = await import('../src/adapters/radius/auc-server.js');
  const count = Number(a.count);
  const terminals = Number(a.terminals);
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-bench-auc-'));
  const schema = a.pg ? `bench_${randomBytes(5).toString('hex')}` : undefined;
  const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex'), ...(a.pg ? { url: a.pg, schema } : {}), onNotice: () => undefined });
  try {
    for (let i = 0; i < terminals; i++) await store.terminals.create(idcOf(i), randomBytes(32), `pw-${i}-${randomBytes(6).toString('hex')}`);
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 5, windowSeconds: 300, baseSeconds: 60, maxSeconds: 3600 } });
    const service = observeAucService(auc, 'radius', aucMetrics(new MetricsRegistry()));
    const server = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: SECRET, service });
    const args: ChildArgs = {
      port: server.authPort,
      count,
      concurrency: Number(a.concurrency),
      terminals,
      ...(a.writes === 'elsewhere'
        ? { sqlite: join(dataDir, 'elsewhere.sqlite'), create: await schemaOf(await bindingsFile(dataDir)) }
        : a.writes !== '0' && !a.pg
          ? { sqlite: await bindingsFile(dataDir) }
          : {}),
    };
    console.log(`AuC Digest over RADIUS, ${a.pg ? 'PostgreSQL' : 'SQLite'}, ${terminals} terminals, ${count} requests a run, ${args.concurrency} in flight${args.sqlite ? `, a binding upsert from another connection per request into ${args.sqlite.slice(dataDir.length + 1)}` : ''}`);
    const figures: number[] = [];
    for (let run = 0; run <= Number(a.runs); run++) {
      const c = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(args)], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      await new Promise<void>((resolve) => c.once('message', () => resolve())); // packets built, socket bound
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      c.send('go');
      const answered = await new Promise<number>((resolve, reject) => {
        c.once('message', (m) => resolve(Number(m)));
        c.once('exit', (code) => reject(new Error(`client exited ${code}`)));
      });
      const cpu = process.cpuUsage(cpu0);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const us = (cpu.user + cpu.system) / answered;
      c.kill();
      // run 0 warms up (JIT, page cache, pools) and is not counted
      if (run === 0) continue;
      figures.push(us);
      console.log(`run ${run}: ${answered} answers in ${secs.toFixed(2)} s (${Math.round(answered / secs)}/s), AuC CPU ${us.toFixed(1)} µs per request (user ${(cpu.user / answered).toFixed(1)}, system ${(cpu.system / answered).toFixed(1)})`);
    }
    figures.sort((x, y) => x - y);
    console.log(`median: ${figures[Math.floor(figures.length / 2)]!.toFixed(1)} µs of AuC CPU per Digest request`);
    await server.close();
  } finally {
    if (schema) await store.db.knex.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]).catch(() => undefined);
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function child(o: ChildArgs): Promise<void> {
  const { encodePacket } = await import('../src/radius/codec.js');
  const { RadiusCode } = await import('../src/radius/dictionary.js');
  const { digestRequestAttributes } = await import('../src/adapters/radius/auc-attributes.js');
  const secret = Buffer.from(SECRET);
  const packets: Buffer[] = [];
  for (let i = 0; i < o.count; i++) {
    const idc = idcOf(i % o.terminals);
    packets.push(
      encodePacket({
        code: RadiusCode.AccessRequest,
        identifier: i & 0xff,
        secret,
        requestAuthenticator: randomBytes(16),
        attributes: digestRequestAttributes({ idc, username: idc, realm, algorithm: 'MD5' }, 'softswitch.bench'),
      }),
    );
  }
  let write: ((i: number) => void) | undefined;
  if (o.sqlite) {
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(o.sqlite);
    db.pragma('busy_timeout = 5000');
    if (o.create) {
      db.pragma('journal_mode = WAL');
      // made by the first run's child
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sip_bindings'").get()) for (const sql of o.create) db.exec(sql);
    }
    const put = db.prepare(
      'INSERT INTO sip_bindings (aor, contact, q_milli, expires_at, call_id, cseq, source, idsp, mechanism, instance, reg_id, created_at, updated_at) ' +
        "VALUES (?, 'sip:bench@127.0.0.1:5070', 1000, ?, ?, 1, '127.0.0.1:5070', 'softswitch.bench', '', '', NULL, ?, ?) " +
        'ON CONFLICT (aor, contact) DO UPDATE SET expires_at = excluded.expires_at, call_id = excluded.call_id, updated_at = excluded.updated_at',
    );
    write = (i) => {
      const t = Date.now();
      put.run(`sip:${idcOf(i % o.terminals)}`, t + 60_000, `c${i}`, t, t);
    };
  }
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let sent = 0;
  let answered = 0;
  const next = (): void => {
    if (sent >= o.count) return;
    const i = sent++;
    write?.(i);
    sock.send(packets[i]!, o.port, '127.0.0.1');
  };
  sock.on('message', () => {
    answered++;
    if (answered === o.count) process.send!(answered);
    else next();
  });
  process.on('message', () => {
    for (let k = 0; k < o.concurrency; k++) next();
    // a datagram lost on loopback would stall the closed loop: refill, and end with what came back
    let seen = -1;
    setInterval(() => {
      if (answered !== seen) return void (seen = answered);
      if (sent >= o.count) process.send!(answered);
      else next();
    }, 500).unref();
  });
  process.send!('ready');
}
