/**
 * The log is one JSON event per line (docs/metrics.md, "Logs"): knex's own
 * warnings, which it would print with console.log as plain text (a lost
 * database connection comes with the driver's stack trace), go to the
 * process's pino logger as one event with the message's first line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger, useProcessLogger } from '../../src/log/logger.js';
import { openDb, type Store } from '../../src/store/index.js';
import { startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, makeContext, PG_URL } from '../helpers/engines.js';
import { upEnv } from '../helpers/ports.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function capture(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

/** Every line a JSON event with an ISO time and a numeric level; none a stack frame. */
function expectJsonEvents(lines: string[]): { level: number; msg: string; source?: string; time: string }[] {
  return lines.map((l) => {
    expect(l, 'a stack frame in the log').not.toMatch(/^\s+at /);
    let e: { level: number; msg: string; time: string; source?: string };
    try {
      e = JSON.parse(l);
    } catch {
      throw new Error(`not a JSON event: ${l}`);
    }
    expect(e.time, l).toMatch(ISO);
    expect(typeof e.level, l).toBe('number');
    return e;
  });
}

describeEngines('knex warnings are log events, not console text', (ctx) => {
  let store: Store;
  const out = capture();
  beforeAll(async () => {
    store = await ctx.open();
    useProcessLogger(createLogger('info', out.stream), { nodeWarnings: false });
  });
  afterAll(async () => {
    await store?.close();
    await ctx.cleanup();
  });
  afterEach(() => vi.restoreAllMocks());

  it('a knex warning of a query becomes one warn event from source knex', async () => {
    const printed = vi.spyOn(console, 'log');
    await store.db.knex('terminals').select('idc').limit('many' as unknown as number);
    expect(printed).not.toHaveBeenCalled();
    const events = expectJsonEvents(out.lines());
    expect(events).toContainEqual(expect.objectContaining({ level: 40, source: 'knex', msg: 'A valid integer must be provided to limit' }));
  });

  it('a knex message carrying a stack keeps its first line only', () => {
    const printed = vi.spyOn(console, 'log');
    // what knex's pool writes when a connection cannot be made (client.js, "Acquire connection error")
    (store.db.knex.client as { logger: { warn(m: string): void } }).logger.warn('Acquire connection error: Error: connect ECONNREFUSED 127.0.0.1:1\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)');
    expect(printed).not.toHaveBeenCalled();
    const events = expectJsonEvents(out.lines());
    expect(events.at(-1)).toMatchObject({ level: 40, source: 'knex', msg: 'Acquire connection error: Error: connect ECONNREFUSED 127.0.0.1:1' });
  });
});

describe("Node's process warnings", () => {
  it('are log events of the process logger, not plain text on stderr', () => {
    const logger = new URL('../../src/log/logger.ts', import.meta.url).href;
    const code = `const { createLogger, useProcessLogger } = await import(${JSON.stringify(logger)});
      if (process.argv.includes('json')) useProcessLogger(createLogger('info'));
      process.emitWarning('an old API', 'DeprecationWarning');
      process.emitWarning(new Error('two\\nlines'));`;
    const run = (mode: string) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, mode], { encoding: 'utf8', timeout: 30_000 });
    // without it Node prints them as text (what the daemon did before)
    expect(run('plain').stderr).toMatch(/DeprecationWarning: an old API/);
    const r = run('json');
    expect(r.status, r.stderr).toBe(0);
    const events = expectJsonEvents(r.stderr.split('\n').filter(Boolean));
    expect(events).toEqual([
      expect.objectContaining({ level: 40, source: 'node', msg: 'an old API' }),
      expect.objectContaining({ level: 40, source: 'node', msg: 'two' }),
    ]);
  });
});

/** A TCP relay to PostgreSQL that the test can cut, as a network failure or a database restart would. */
async function pgRelay(): Promise<{ port: number; cut(): Promise<void> }> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('keyswitch up whose PostgreSQL goes away logs JSON events only [postgres]', () => {
  const ctx = makeContext('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'ks-logs-'));
  let daemon: Daemon | undefined;
  let reachable = true;

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  it('prints no plain-text stack when knex loses its connections; /healthz says the store is down', async (t) => {
    const pgOpts = ctx.storeOptions();
    try {
      await (await openDb(pgOpts)).knex.destroy();
    } catch {
      reachable = false;
    }
    if (!reachable) t.skip();
    const relay = await pgRelay();
    const url = new URL(PG_URL);
    url.host = `127.0.0.1:${relay.port}`;
    const up = await upEnv();
    const env = { ...up.env, KEYSWITCH_DB_URL: `${url.toString()}?options=-c%20search_path%3D${pgOpts.schema}`, KEYSWITCH_LOG_LEVEL: 'info', KEYSWITCH_HEALTH_MIN_FREE_MB: '0' };
    const g = ['--data-dir', join(dir, 'data')];
    // (no one-shot CLI here: spawnSync would stall the relay, which runs in this process; `up` makes its store itself)
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env));
    const health = () => fetch(`http://127.0.0.1:${up.ports.api}/healthz`).then(async (r) => ({ status: r.status, body: (await r.json()) as { down: { part: string }[] } }));
    expect((await health()).status).toBe(200);

    await relay.cut();
    // store checks now need a new connection, which the pool cannot make: knex warns with the driver's stack
    let h = await health();
    for (let i = 0; i < 20 && !daemon.stderr().includes('"source":"knex"'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      h = await health();
    }
    expect(h.status).toBe(503);
    expect(h.body.down.map((d) => d.part)).toContain('store');
    const events = expectJsonEvents(daemon.stderr().split('\n').filter(Boolean));
    expect(events.some((e) => e.source === 'knex' && e.level === 40)).toBe(true);
    expect(daemon.output()).not.toMatch(/^\s+at /m);
    expect(daemon.proc.exitCode).toBeNull();
  });
});
