/**
 * Issue 8 items 9 and 10 against `keyswitch up` and the roles run alone:
 * /healthz says 200 only while every listener, the store and the disk are
 * up (503 naming what is down); the provisioning API refuses hostile query
 * numbers and identities that could never register, marks every answer
 * no-store with browser security headers, and a failed INSERT puts neither
 * its SQL nor the sealed key in the log or on the CLI's stderr.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/index.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, PG_URL, type EngineContext } from '../helpers/engines.js';
import { freePorts, upEnv } from '../helpers/ports.js';
import { startUp, type Up } from '../helpers/up.js';

/** What a sealed value looks like at rest: `v<master-key version>.<base64url>`. */
const SEALED = /\bv\d+\.[A-Za-z0-9_-]{40,}/;
const SQL = /\b(insert\s+into|values\s*\(|key_enc|sip_secret_enc)\b/i;

interface StoreUnderTest {
  g: string[];
  dbUrl: string;
  schema: string | undefined;
  dataDir: string;
  /** Makes the store unusable from outside, as a dropped schema or table would. */
  breakStore(): Promise<void>;
  /** Runs SQL in the store (a test trigger). */
  exec(sqlite: string, postgres: string): Promise<void>;
}

async function storeUnderTest(ctx: EngineContext, prefix: string): Promise<StoreUnderTest & { cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dataDir = join(dir, 'data');
  const pgOpts = ctx.storeOptions();
  const schema = ctx.engine === 'postgres' ? pgOpts.schema : undefined;
  const dbUrl = schema ? `${PG_URL}?options=-c%20search_path%3D${schema}` : '';
  // the schema only; the daemon migrates it under the master key it makes
  if (schema) await (await openDb(pgOpts)).knex.destroy();
  const pgRun = async (sql: string) => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const sqliteRun = (sql: string) => {
    const db = new Database(join(dataDir, 'keyswitch.sqlite'));
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };
  return {
    g: ['--data-dir', dataDir],
    dbUrl,
    schema,
    dataDir,
    async breakStore() {
      if (schema) await pgRun(`DROP SCHEMA "${schema}" CASCADE`);
      else sqliteRun('PRAGMA foreign_keys = OFF; DROP TABLE terminals;');
    },
    async exec(sqlite, postgres) {
      if (schema) await pgRun(postgres.replaceAll('$SCHEMA', `"${schema}"`));
      else sqliteRun(sqlite);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function get(url: string, token?: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> & { down?: Array<{ part: string; reason: string; address?: string }> } }> {
  const r = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
}

async function post(url: string, token: string, body: unknown, contentType = 'application/json') {
  const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {}, text };
}

function expectSecurityHeaders(h: Headers): void {
  expect(h.get('cache-control')).toBe('no-store');
  expect(h.get('x-content-type-options')).toBe('nosniff');
  expect(h.get('x-frame-options')).toBe('DENY');
  expect(h.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(h.get('referrer-policy')).toBe('no-referrer');
}

describeEngines('keyswitch up: /healthz and the provisioning API under attack', (ctx) => {
  let s: StoreUnderTest & { cleanup(): void };
  let env: NodeJS.ProcessEnv;
  let daemon: Daemon;
  let api: string;
  let token: string;

  beforeAll(async () => {
    s = await storeUnderTest(ctx, 'ks-health-');
    const up = await upEnv();
    env = { ...up.env, KEYSWITCH_DB_URL: s.dbUrl, KEYSWITCH_LOG_LEVEL: 'warn' };
    const t = ks([...s.g, '--init', 'token', 'create', '--role', 'admin'], env);
    expect(t.code, t.stderr).toBe(0);
    token = t.stdout.trim();
    ({ daemon } = await startDaemon([...s.g, 'up'], /SBC H\.248 \(gateways\)/, env));
    api = `http://127.0.0.1:${up.ports.api}`;
  });
  afterAll(async () => {
    await daemon?.stop();
    s?.cleanup();
    await ctx.cleanup();
  });

  it('/healthz is 200 with every listener of the process up', async () => {
    const h = await get(`${api}/healthz`);
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ status: 'ok', db: ctx.engine, down: [] });
    // API, RADIUS, Diameter; softswitch SIP UDP/TCP, MGCP, H.248; SBC SIP UDP/TCP/TLS/TLS-PSK, core link, MGCP, H.248
    expect(h.body.listeners).toBeGreaterThanOrEqual(14);
    expectSecurityHeaders(h.headers);
  });

  it('answers ?offset=1e309 and other hostile numbers 400 with a code, and a sane page still 200', async () => {
    for (const q of ['offset=1e309', 'offset=-1', 'offset=1.5', 'offset=NaN', 'limit=1e309', 'limit=0']) {
      for (const path of ['/v1/terminals', '/v1/proxies', '/v1/audit']) {
        const r = await get(`${api}${path}?${q}`, token);
        expect(r.status, `${path}?${q}`).toBe(400);
        expect(r.body).toMatchObject({ statusCode: 400, code: 'invalid-querystring' });
        expectSecurityHeaders(r.headers);
      }
    }
    expect((await get(`${api}/v1/terminals?offset=0&limit=10`, token)).status).toBe(200);
  });

  it('marks answers that carry a key no-store, with security headers, and the docs page unframeable', async () => {
    const created = await post(`${api}/v1/terminals`, token, { id: 'headers@lab.example' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^[0-9a-f]{64}$/);
    expectSecurityHeaders(created.headers);
    const rotated = await post(`${api}/v1/terminals/headers@lab.example/rotate`, token, {});
    expect(rotated.body.key).toMatch(/^[0-9a-f]{64}$/);
    expectSecurityHeaders(rotated.headers);
    const docs = await fetch(`${api}/docs/`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('x-content-type-options')).toBe('nosniff');
    expect(docs.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect((await fetch(`${api}/no/such/route`)).headers.get('x-frame-options')).toBe('DENY');
  });

  it('refuses identities that can never register, stating the rule; NFC and NFD spellings are one terminal', async () => {
    for (const id of ['o"brien', 'sp ace', '<script>', 'o"brien@lab.example', 'sp ace@lab.example', '<script>@lab.example', 'alice@LAB.example', 'alice@lab..example', 'a@b@lab.example', 'al%zzce@lab.example']) {
      const r = await post(`${api}/v1/terminals`, token, { id });
      expect(r.status, id).toBe(400);
      expect(r.body.code, id).toBe('invalid-identity');
      expect(r.body.message, id).toContain('SIP address user@host');
    }
    const nfc = 'z\u00fcri@lab.example';
    const nfd = 'zu\u0308ri@lab.example';
    expect(nfc).not.toBe(nfd);
    for (const id of [nfc, nfd, 'z%c3%bcri@lab.example', 'zu%CC%88ri@lab.example']) {
      const r = await post(`${api}/v1/terminals`, token, { id });
      expect(r.status, id).toBe(400);
      expect(r.body.message, id).toContain('write it as "z%C3%BCri@lab.example"');
    }
    // the one spelling, once
    expect((await post(`${api}/v1/terminals`, token, { id: 'z%C3%BCri@lab.example' })).status).toBe(201);
    expect((await post(`${api}/v1/terminals`, token, { id: 'z%C3%BCri@lab.example' })).status).toBe(409);
    expect((await get(`${api}/v1/terminals?prefix=z`, token)).body.total).toBe(1);

    // the CLI and the CSV import apply the same rule
    for (const id of ['o"brien', 'sp ace', '<script>', nfd]) {
      const r = ks([...s.g, 'provision', 'terminal', id, '--key', randomBytes(32).toString('hex')], env);
      expect(r.code, id).toBe(2);
      expect(r.stderr, id).toContain('SIP address user@host');
    }
    const csv = join(s.dataDir, '..', 'ids.csv');
    writeFileSync(csv, ['idc,key', `"o""brien@lab.example",${'11'.repeat(32)}`, `${nfc},${'22'.repeat(32)}`, `ok.import@lab.example,${'33'.repeat(32)}`].join('\n') + '\n');
    const imp = ks([...s.g, 'provision', 'import', csv, '--json'], env);
    const report = JSON.parse(imp.stdout.trim().split('\n').pop()!);
    expect(report).toMatchObject({ created: 1, failed: 2 });
    expect(report.errors.map((e: { message: string }) => e.message).join('\n')).toMatch(/SIP address user@host[\s\S]*write it as "z%C3%BCri@lab.example"/);
    const viaApi = await post(`${api}/v1/terminals/import`, token, `idc,key\nsp ace@lab.example,${'44'.repeat(32)}\n`, 'text/csv');
    expect(viaApi.body).toMatchObject({ created: 0, failed: 1 });
  });

  it('a failed INSERT logs a code and the table, never its SQL or the sealed key (API and CLI)', async () => {
    // a store that refuses some inserts, for a reason only it knows (PostgreSQL's message even quotes the sealed key)
    await s.exec(
      "CREATE TRIGGER refuse_insert BEFORE INSERT ON terminals WHEN NEW.idc LIKE 'refused%' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;",
      `CREATE FUNCTION $SCHEMA.refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN IF NEW.idc LIKE 'refused%' THEN RAISE EXCEPTION 'refused: %', NEW.key_enc USING DETAIL = 'row ' || NEW.key_enc; END IF; RETURN NEW; END $f$;
       CREATE TRIGGER refuse_insert BEFORE INSERT ON $SCHEMA.terminals FOR EACH ROW EXECUTE FUNCTION $SCHEMA.refuse_insert();`,
    );
    const key = randomBytes(32).toString('hex');
    const before = daemon.output().length;
    const r = await post(`${api}/v1/terminals`, token, { id: 'refused@lab.example', key });
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ code: 'internal', message: 'internal error; see the server log' });
    await new Promise((res) => setTimeout(res, 200));
    const log = daemon.output().slice(before);
    expect(log).toMatch(/database error \S+ on table terminals/);
    expect(log).not.toMatch(SQL);
    expect(log).not.toMatch(SEALED);
    expect(log).not.toContain(key);

    const cli = ks([...s.g, 'provision', 'terminal', 'refused.cli@lab.example', '--key', key], env);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/database error \S+ on table terminals/);
    for (const text of [cli.stderr, cli.stdout]) {
      expect(text).not.toMatch(SQL);
      expect(text).not.toMatch(SEALED);
      expect(text).not.toContain(key);
    }
    // everyone else is still provisioned
    expect((await post(`${api}/v1/terminals`, token, { id: 'accepted@lab.example' })).status).toBe(201);
  });

  it('/healthz is 503 naming the store once the store is gone (schema or table dropped)', async () => {
    await s.breakStore();
    const h = await get(`${api}/healthz`);
    expect(h.status).toBe(503);
    expect(h.body.status).toBe('unavailable');
    expect(h.body.down!.map((d) => d.part)).toEqual(['store']);
    expect(JSON.stringify(h.body)).not.toMatch(SQL);
  });
});

describe('keyswitch up: /healthz is 503 when the data directory\'s disk is below the floor [sqlite]', () => {
  let up: Up;
  let api: string;
  beforeAll(async () => {
    // a floor no disk meets: 2 PiB
    up = await startUp({ prefix: 'ks-disk-', env: { KEYSWITCH_HEALTH_MIN_FREE_MB: '2147483647' } });
    api = `http://127.0.0.1:${up.ports.api}`;
  });
  afterAll(async () => {
    await up?.stop();
  });

  it('names the disk and the floor', async () => {
    const h = await get(`${api}/healthz`);
    expect(h.status).toBe(503);
    expect(h.body.down).toHaveLength(1);
    expect(h.body.down![0]).toMatchObject({ part: 'disk' });
    expect(h.body.down![0]!.reason).toMatch(/MiB free .* below the 2147483647 MiB floor \(health\.minFreeMb\)/);
  });
});

describeEngines('the roles run alone each answer /healthz', (ctx) => {
  let s: StoreUnderTest & { cleanup(): void };
  const daemons: Daemon[] = [];
  const urls: Record<string, string> = {};

  beforeAll(async () => {
    s = await storeUnderTest(ctx, 'ks-roles-health-');
    const up = await upEnv();
    const [ssHealth, sbcHealth] = await freePorts(2);
    const env = {
      ...up.env,
      KEYSWITCH_DB_URL: s.dbUrl,
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_SOFTSWITCH_HEALTH: `127.0.0.1:${ssHealth}`,
      KEYSWITCH_SBC_HEALTH: `127.0.0.1:${sbcHealth}`,
    };
    // one after the other: the first makes the data directory's generated secrets, the others read them
    const auc = await startDaemon([...s.g, 'auc'], /AuC Diameter/, env);
    daemons.push(auc.daemon);
    urls.auc = `http://127.0.0.1:${up.ports.api}/healthz`;
    const ss = await startDaemon([...s.g, 'softswitch'], /softswitch health\s+(http:\S+)/, env);
    daemons.push(ss.daemon);
    urls.softswitch = ss.match[1]!;
    const sbc = await startDaemon([...s.g, 'sbc'], /sbc health\s+(http:\S+)/, env);
    daemons.push(sbc.daemon);
    urls.sbc = sbc.match[1]!;
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop();
    s?.cleanup();
    await ctx.cleanup();
  });

  it('200 from each role while healthy, listing its own listeners', async () => {
    expect(urls.softswitch).toContain('/healthz');
    for (const [role, url] of Object.entries(urls)) {
      const h = await get(url);
      expect(h.status, role).toBe(200);
      expect(h.body.status, role).toBe('ok');
      expect(h.body.listeners as number, role).toBeGreaterThanOrEqual(3);
      expect(h.headers.get('cache-control'), role).toBe('no-store');
    }
  });

  it('503 from each role naming the store once it is gone', async () => {
    await s.breakStore();
    for (const [role, url] of Object.entries(urls)) {
      const h = await get(url);
      expect(h.status, role).toBe(503);
      expect(h.body.down!.map((d) => d.part), role).toContain('store');
    }
  });
});
