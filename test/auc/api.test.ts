import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/auc/api/server.js';
import { createLogger } from '../../src/log/logger.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

describeEngines('provisioning API', (ctx) => {
  let store: Store;
  let app: FastifyInstance;
  let admin: string;
  let viewer: string;
  const logs = new Capture();
  const keysSeen: string[] = [];

  const call = (method: string, url: string, token: string | undefined, body?: unknown, contentType = 'application/json') =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': contentType } : {}) },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    store = await ctx.open();
    app = await buildApi({ store, logger: createLogger('trace', logs), bodyLimit: 64 * 1024 });
    admin = (await store.tokens.create('admin', 'test')).token;
    viewer = (await store.tokens.create('viewer')).token;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await ctx.cleanup();
  });

  it('creates a terminal with a generated key shown once, then never again', async () => {
    const r = await call('POST', '/v1/terminals', admin, { id: 'alice@lab.example', sipPassword: 'pw' });
    expect(r.statusCode).toBe(201);
    const body = r.json();
    expect(body.key).toMatch(/^[0-9a-f]{64}$/);
    keysSeen.push(body.key);
    const stored = await store.terminals.key('alice@lab.example');
    expect(stored?.key.toString('hex')).toBe(body.key);
    const show = await call('GET', '/v1/terminals/alice@lab.example', viewer);
    expect(show.statusCode).toBe(200);
    expect(show.json().key).toBeUndefined();
    expect(show.body).not.toContain(body.key);
    expect(show.json()).toMatchObject({ id: 'alice@lab.example', status: 'active', hasSipPassword: true, keyGeneration: 1 });
  });

  it('accepts a supplied key and never echoes it', async () => {
    const key = randomBytes(32).toString('hex');
    keysSeen.push(key);
    const r = await call('POST', '/v1/proxies', admin, { id: 'sbc1.lab.example', key });
    expect(r.statusCode).toBe(201);
    expect(r.body).not.toContain(key);
    expect((await store.proxies.key('sbc1.lab.example'))?.key.toString('hex')).toBe(key);
  });

  it('stores an identity with SQL metacharacters literally', async () => {
    // quote, semicolon, slash and star are all allowed in a SIP user part
    const id = "alice';drop/**/table/**/terminals;--@lab.example";
    const r = await call('POST', '/v1/terminals', admin, { id, key: randomBytes(32).toString('hex') });
    expect(r.statusCode).toBe(201);
    const show = await call('GET', `/v1/terminals/${encodeURIComponent(id)}`, viewer);
    expect(show.json().id).toBe(id);
    expect((await call('GET', '/v1/terminals', viewer)).json().total).toBeGreaterThanOrEqual(2);
  });

  it('answers bad input with clear 4xx errors', async () => {
    expect((await call('POST', '/v1/terminals', admin, '{not json')).statusCode).toBe(400);
    const wrongType = await call('POST', '/v1/terminals', admin, { id: 42, key: 'zz' });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().message).toMatch(/body\//);
    const badKey = await call('POST', '/v1/terminals', admin, { id: 'k@x', key: 'abc' });
    expect(badKey.statusCode).toBe(400);
    expect(badKey.json().message).toContain('key');
    expect((await call('POST', '/v1/terminals', admin, { id: 'a\u0001b' })).statusCode).toBe(400);
    expect((await call('POST', '/v1/terminals', admin, { id: 'x'.repeat(256) })).statusCode).toBe(400);
    expect((await call('POST', '/v1/terminals', admin, { id: 'extra@x', colour: 'red' })).statusCode).toBe(400);
    const big = await call('POST', '/v1/terminals', admin, { id: 'big@x', sipPassword: 'p'.repeat(70 * 1024) });
    expect(big.statusCode).toBe(413);
    const dup = await call('POST', '/v1/terminals', admin, { id: 'alice@lab.example' });
    expect(dup.statusCode).toBe(409);
    expect((await call('GET', '/v1/terminals/nobody@x', viewer)).statusCode).toBe(404);
    expect((await call('GET', '/v1/terminals?limit=0', viewer)).statusCode).toBe(400);
  });

  it('refuses a missing or wrong token (401) and a viewer writing (403)', async () => {
    expect((await call('GET', '/v1/terminals', undefined)).statusCode).toBe(401);
    expect((await call('GET', '/v1/terminals', 'ks_0000000000000000_' + 'A'.repeat(43))).statusCode).toBe(401);
    expect((await call('GET', '/v1/terminals', admin.slice(0, -1) + (admin.endsWith('A') ? 'B' : 'A'))).statusCode).toBe(401);
    expect((await call('POST', '/v1/terminals', viewer, { id: 'v@x' })).statusCode).toBe(403);
    expect((await call('GET', '/v1/terminals', viewer)).statusCode).toBe(200);
    const t = await store.tokens.create('admin');
    await store.tokens.revoke(t.record.id);
    expect((await call('GET', '/v1/terminals', t.token)).statusCode).toBe(401);
  });

  it('rotates, disables, enables and deletes, each in the audit log without the key', async () => {
    const rot = await call('POST', '/v1/terminals/alice@lab.example/rotate', admin, {});
    expect(rot.statusCode).toBe(200);
    expect(rot.json().keyGeneration).toBe(2);
    keysSeen.push(rot.json().key);
    expect((await store.terminals.key('alice@lab.example'))?.key.toString('hex')).toBe(rot.json().key);
    expect((await call('POST', '/v1/terminals/alice@lab.example/disable', admin)).json().status).toBe('disabled');
    expect((await call('POST', '/v1/terminals/alice@lab.example/enable', admin)).json().status).toBe('active');
    expect((await call('PUT', '/v1/terminals/alice@lab.example/sip-password', admin, { sipPassword: null })).json().hasSipPassword).toBe(false);
    expect((await call('DELETE', '/v1/proxies/sbc1.lab.example', admin)).statusCode).toBe(204);
    expect((await call('DELETE', '/v1/proxies/sbc1.lab.example', admin)).statusCode).toBe(404);
    expect((await call('POST', '/v1/terminals/nobody@x/rotate', admin, {})).statusCode).toBe(404);

    const audit = (await call('GET', '/v1/audit?limit=50', viewer)).json();
    const actions = audit.items.map((e: { action: string; target: string }) => `${e.action} ${e.target}`);
    for (const a of ['terminal.create alice@lab.example', 'terminal.rotate alice@lab.example', 'terminal.disable alice@lab.example', 'terminal.enable alice@lab.example', 'proxy.delete sbc1.lab.example']) {
      expect(actions).toContain(a);
    }
    expect(audit.items[0].actor).toMatch(/^token:[0-9a-f]{16}\(admin:test\)$/);
    const text = JSON.stringify(audit);
    for (const k of keysSeen) expect(text).not.toContain(k);
  });

  it('imports CSV in bulk, idempotently, with a per-line report', async () => {
    const supplied = randomBytes(32).toString('hex');
    keysSeen.push(supplied);
    const csv = `idc,key,sip_password\nbulk1@lab.example,,pw\nbulk2@lab.example,${supplied},\n"bulk,3@lab.example",,\nbulk4@lab.example,nothex,\n`;
    const first = await call('POST', '/v1/terminals/import', admin, csv, 'text/csv');
    expect(first.statusCode).toBe(200);
    const r1 = first.json();
    expect(r1).toMatchObject({ total: 4, created: 3, unchanged: 0, failed: 1 });
    expect(r1.errors).toEqual([{ line: 5, idc: 'bulk4@lab.example', message: expect.stringContaining('64 hexadecimal') }]);
    expect(r1.generated.map((g: { idc: string }) => g.idc).sort()).toEqual(['bulk,3@lab.example', 'bulk1@lab.example']);
    for (const g of r1.generated) keysSeen.push(g.key);
    const again = (await call('POST', '/v1/terminals/import', admin, csv, 'text/csv')).json();
    expect(again).toMatchObject({ total: 4, created: 0, unchanged: 3, failed: 1, generated: [] });
    const conflicting = (await call('POST', '/v1/terminals/import', admin, `idc,key\nbulk2@lab.example,${randomBytes(32).toString('hex')}\n`, 'text/csv')).json();
    expect(conflicting.failed).toBe(1);
    expect(conflicting.errors[0].message).toContain('different key');
    expect((await call('POST', '/v1/terminals/import', admin, 'name,secret\nx,y\n', 'text/csv')).json().errors[0].message).toContain('header');
  });

  it('serves OpenAPI at /docs and health at /healthz', async () => {
    expect((await call('GET', '/healthz', undefined)).json()).toEqual({ status: 'ok', db: ctx.engine, listeners: 0, down: [] });
    const spec = (await call('GET', '/docs/json', undefined)).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toContain('/v1/terminals/{id}/rotate');
    expect((await call('GET', '/docs/', undefined)).statusCode).toBe(200);
  });

  describe('logs', () => {
    it('never contain a key, the token or a SIP password', () => {
      expect(logs.text.length).toBeGreaterThan(1000);
      for (const k of keysSeen) {
        expect(logs.text).not.toContain(k);
        expect(logs.text).not.toContain(Buffer.from(k, 'hex').toString('base64'));
      }
      expect(logs.text).not.toContain(admin);
      expect(logs.text).not.toContain('"pw"');
    });
  });
});
