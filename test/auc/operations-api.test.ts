import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi } from '../../src/auc/api/server.js';
import { Auc } from '../../src/auc/auc.js';
import type { LiveRoles, LiveSbc } from '../../src/control/live-roles.js';
import { createLogger } from '../../src/log/logger.js';
import type { Store } from '../../src/store/index.js';
import type { SourceBlock } from '../../src/store/sbc-state.js';
import { describeEngines } from '../helpers/engines.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

/** An SBC in the same process, as the operator routes see it. */
class FakeSbc implements LiveSbc {
  readonly instance = 'feedfacefeedface';
  readonly idsp = 'sbc1.lab.example';
  readonly held = new Map<string, SourceBlock>();
  readonly sessions = new Map<string, number>();
  blocks() {
    return [...this.held.values()];
  }
  unblock(source: string) {
    return this.held.delete(source);
  }
  sourceFailures() {
    return [{ source: '192.0.2.66', idsp: this.idsp, total: 12, byKind: { signature: 11, replay: 1 }, first: 1000, last: 2000 }];
  }
  dropSession(idc: string, before: number) {
    const at = this.sessions.get(idc);
    if (at === undefined || at > before) return false;
    return this.sessions.delete(idc);
  }
}

describeEngines('operator API: registrations, failures and lockouts, blocked sources, audit', (ctx) => {
  let store: Store;
  let app: FastifyInstance;
  let admin: string;
  let viewer: string;
  let t = Date.parse('2026-03-01T10:00:00Z');
  const logs = new Capture();
  const sbc = new FakeSbc();
  const live: LiveRoles = { sbc };
  const key = randomBytes(32);

  const call = (method: string, url: string, token: string | undefined, body?: unknown) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    store = await ctx.open({ now: () => t });
    app = await buildApi({ store, logger: createLogger('trace', logs), bodyLimit: 64 * 1024, live });
    admin = (await store.tokens.create('admin', 'ops')).token;
    viewer = (await store.tokens.create('viewer')).token;
    await store.terminals.create('alice@lab.example', key);
    await store.terminals.create('bob@lab.example', randomBytes(32));
    await store.proxies.create('sbc1.lab.example', randomBytes(32));
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await ctx.cleanup();
  });

  const record = (idc: string, protocol: string, contact: string, mechanism: string, ipc = '192.0.2.10') =>
    store.registrations.record({ idc, idsp: 'sbc1.lab.example', ipc, protocol, contact, mechanism, expiresAt: t + 3600_000 });

  it('lists live registrations with filters and paging, and shows those of one IDc', async () => {
    await record('alice@lab.example', 'sip', 'sip:alice@192.0.2.10:5060', 'tls-psk');
    await record('alice@lab.example', 'mgcp', 'aaln/1@gw.lab.example', 'app-hmac', '192.0.2.11');
    await record('bob@lab.example', 'sip', 'sip:bob@192.0.2.12:5060', '', '192.0.2.12');
    await store.registrations.record({ idc: 'gone@lab.example', idsp: 'sbc1.lab.example', ipc: '192.0.2.9', protocol: 'sip', contact: 'sip:x', mechanism: '', expiresAt: t - 1 });
    const all = await call('GET', '/v1/registrations', viewer);
    expect(all.statusCode).toBe(200);
    expect(all.json().total).toBe(3);
    expect(all.json().items[0]).toEqual({
      idc: 'alice@lab.example',
      protocol: 'mgcp',
      idsp: 'sbc1.lab.example',
      contact: 'aaln/1@gw.lab.example',
      mechanism: 'app-hmac',
      source: '192.0.2.11',
      registeredAt: '2026-03-01T10:00:00.000Z',
      updatedAt: '2026-03-01T10:00:00.000Z',
      expiresAt: '2026-03-01T11:00:00.000Z',
      expiresInSeconds: 3600,
    });
    expect((await call('GET', '/v1/registrations?protocol=sip', viewer)).json().total).toBe(2);
    expect((await call('GET', '/v1/registrations?mechanism=digest', viewer)).json().items.map((r: { idc: string }) => r.idc)).toEqual(['bob@lab.example']);
    expect((await call('GET', '/v1/registrations?source=192.0.2.11', viewer)).json().total).toBe(1);
    expect((await call('GET', '/v1/registrations?prefix=bo', viewer)).json().total).toBe(1);
    expect((await call('GET', '/v1/registrations?prefix=%25', viewer)).json().total).toBe(0); // a LIKE wildcard is literal
    const paged = (await call('GET', '/v1/registrations?offset=1&limit=1', viewer)).json();
    expect(paged).toMatchObject({ total: 3, offset: 1, limit: 1 });
    expect(paged.items[0].protocol).toBe('sip');
    const one = await call('GET', '/v1/registrations/alice@lab.example', viewer);
    expect(one.json().items).toHaveLength(2);
    expect((await call('GET', '/v1/registrations?protocol=x', viewer)).statusCode).toBe(400);
    expect((await call('GET', '/v1/registrations', undefined)).statusCode).toBe(401);
  });

  it('de-registers: the AuC rows, the SIP bindings and the SBC session of this process, audited; a viewer may not', async () => {
    await store.bindings.update('alice@lab.example', () => ({
      commit: [{ op: 'put', binding: { aor: 'alice@lab.example', contact: 'sip:alice@192.0.2.10:5060', q: 1, expiresAt: t + 3600_000, callId: 'c1', cseq: 1, source: 'udp:127.0.0.1:5060', idsp: 'sbc1.lab.example', mechanism: 'tls-psk', instance: '' } }],
      result: true,
    }));
    sbc.sessions.set('alice@lab.example', t - 1000);
    expect((await call('DELETE', '/v1/registrations/alice@lab.example', viewer)).statusCode).toBe(403);
    // one protocol: the SIP one goes, the MGCP one keeps the session
    const sip = await call('DELETE', '/v1/registrations/alice@lab.example?protocol=sip', admin);
    expect(sip.statusCode).toBe(200);
    expect(sip.json()).toEqual({ idc: 'alice@lab.example', registrations: 1, bindings: 1, sbcSession: 'kept' });
    expect(await store.bindings.current('alice@lab.example')).toEqual([]);
    expect(sbc.sessions.has('alice@lab.example')).toBe(true);
    const rest = await call('DELETE', '/v1/registrations/alice@lab.example', admin);
    expect(rest.json()).toEqual({ idc: 'alice@lab.example', registrations: 1, bindings: 0, sbcSession: 'dropped' });
    expect(sbc.sessions.has('alice@lab.example')).toBe(false);
    expect((await call('GET', '/v1/registrations/alice@lab.example', viewer)).json().items).toEqual([]);
    expect((await call('DELETE', '/v1/registrations/alice@lab.example', admin)).json().code).toBe('not-registered');
    // SBCs run apart are asked through the store; this process's SBC is the origin and skips it
    const actions = await store.sbcState.actionsAfter(0);
    expect(actions.map((a) => [a.action, a.target, a.origin])).toEqual([['drop-session', 'alice@lab.example', sbc.instance]]);
    const audit = (await call('GET', '/v1/audit?action=registration.deregister', viewer)).json();
    expect(audit.items.map((e: { detail: { protocol?: string } }) => e.detail.protocol ?? 'all')).toEqual(['all', 'sip']);
    expect(audit.items[0].actor).toMatch(/^token:[0-9a-f]{16}\(admin:ops\)$/);
  });

  it('shows a terminal locked by failures as locked, in its view, the list and /v1/failures; unlock clears it, audited', async () => {
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 300, baseSeconds: 60, maxSeconds: 3600 }, logger: createLogger('warn', logs) });
    await auc.failed({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example' });
    let bob = (await call('GET', '/v1/terminals/bob@lab.example', viewer)).json();
    expect(bob).toMatchObject({ status: 'active', failures: 1 });
    expect(bob.lockedUntil).toBeUndefined();
    for (let i = 0; i < 2; i++) await auc.failed({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example' });
    bob = (await call('GET', '/v1/terminals/bob@lab.example', viewer)).json();
    expect(bob).toMatchObject({ id: 'bob@lab.example', status: 'locked', failures: 3, lockedUntil: '2026-03-01T10:01:00.000Z' });
    const list = (await call('GET', '/v1/terminals', viewer)).json();
    expect(list.items.find((p: { id: string }) => p.id === 'bob@lab.example').status).toBe('locked');
    expect(list.items.find((p: { id: string }) => p.id === 'alice@lab.example')).toMatchObject({ status: 'active', failures: 0 });
    await auc.failed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    const failures = (await call('GET', '/v1/failures', viewer)).json();
    expect(failures.total).toBe(2);
    expect(failures.items[0]).toEqual({
      idc: 'bob@lab.example',
      failures: 3,
      windowStart: '2026-03-01T10:00:00.000Z',
      lockouts: 1,
      locked: true,
      lockedUntil: '2026-03-01T10:01:00.000Z',
      retryAfterSeconds: 60,
      lastFailureAt: '2026-03-01T10:00:00.000Z',
    });
    expect(failures.items[1]).toMatchObject({ idc: 'alice@lab.example', failures: 1, locked: false, lockedUntil: null, retryAfterSeconds: 0 });
    expect((await call('GET', '/v1/failures?locked=true', viewer)).json().items.map((f: { idc: string }) => f.idc)).toEqual(['bob@lab.example']);
    // the AuC logged the failures and the lockout at warn, with no key
    const lines = logs.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event === 'lockout' && l.idc === 'bob@lab.example' && l.level === 40)).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'auth-failure' && l.level === 40).length).toBeGreaterThanOrEqual(3);
    expect(logs.text).not.toContain(key.toString('hex'));

    expect((await call('POST', '/v1/terminals/bob@lab.example/unlock', viewer)).statusCode).toBe(403);
    const unlocked = await call('POST', '/v1/terminals/bob@lab.example/unlock', admin);
    expect(unlocked.statusCode).toBe(200);
    expect(unlocked.json()).toMatchObject({ id: 'bob@lab.example', status: 'active', failures: 0 });
    expect(await store.failures.get('bob@lab.example')).toBeUndefined();
    expect((await auc.lockout.status('bob@lab.example')).locked).toBe(false);
    expect((await call('POST', '/v1/terminals/nobody@lab.example/unlock', admin)).statusCode).toBe(404);
    const audit = (await call('GET', '/v1/audit?target=bob@lab.example', viewer)).json();
    expect(audit.items[0]).toMatchObject({ action: 'terminal.unlock', detail: { wasLocked: true, failures: 3, lockouts: 1 } });
    // a disabled terminal shows disabled, locked or not
    for (let i = 0; i < 3; i++) await auc.failed({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example' });
    await store.terminals.setStatus('bob@lab.example', 'disabled');
    expect((await call('GET', '/v1/terminals/bob@lab.example', viewer)).json().status).toBe('disabled');
    await store.terminals.setStatus('bob@lab.example', 'active');
  });

  it('logs failures for identities that are not provisioned at most 10 lines a second, with a count of those left out', async () => {
    const capture = new Capture();
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 300, baseSeconds: 60, maxSeconds: 3600 }, logger: createLogger('warn', capture) });
    for (let i = 0; i < 50; i++) await auc.failed({ idc: `made-up-${i}@lab.example`, idsp: 'sbc1.lab.example' });
    const lines = () => capture.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines()).toHaveLength(10);
    expect(lines()[0]).toMatchObject({ level: 40, event: 'auth-failure', unknown: true, idc: 'made-up-0@lab.example' });
    t += 1000;
    await auc.failed({ idc: 'made-up-x@lab.example', idsp: 'sbc1.lab.example' });
    t -= 1000;
    expect(lines()[10]).toMatchObject({ idc: 'made-up-x@lab.example', notLoggedBefore: 40 });
    expect(await store.failures.get('made-up-0@lab.example')).toBeUndefined(); // still not stored
  });

  it('lists blocked sources of this process and of SBCs run apart, and lifts a block everywhere, audited', async () => {
    sbc.held.set('192.0.2.66', { source: '192.0.2.66', idsp: sbc.idsp, reason: 'signature-failures', failures: 10, windowMs: 1000, blockedAt: t - 5000, expiresAt: t + 55_000 });
    // an SBC run apart recorded its block in the store (and this process's SBC its own, which the live view replaces)
    await store.sbcState.recordBlock('0123456789abcdef', { source: '198.51.100.7', idsp: 'sbc2.lab.example', reason: 'signature-failures', failures: 10, windowMs: 1000, blockedAt: t - 1000, expiresAt: t + 59_000 });
    await store.sbcState.recordBlock(sbc.instance, { source: '192.0.2.66', idsp: sbc.idsp, reason: 'signature-failures', failures: 10, windowMs: 1000, blockedAt: t - 5000, expiresAt: t + 55_000 });
    await store.sbcState.recordBlock('0123456789abcdef', { source: '198.51.100.8', idsp: 'sbc2.lab.example', reason: 'signature-failures', failures: 10, windowMs: 1000, blockedAt: t - 90_000, expiresAt: t - 30_000 });
    const list = await call('GET', '/v1/blocked', viewer);
    expect(list.statusCode).toBe(200);
    expect(list.json().total).toBe(2);
    expect(list.json().items).toEqual([
      { source: '192.0.2.66', idsp: 'sbc1.lab.example', reason: 'signature-failures', failures: 10, windowMs: 1000, blockedAt: '2026-03-01T09:59:55.000Z', expiresAt: '2026-03-01T10:00:55.000Z', expiresInSeconds: 55 },
      { source: '198.51.100.7', idsp: 'sbc2.lab.example', reason: 'signature-failures', failures: 10, windowMs: 1000, blockedAt: '2026-03-01T09:59:59.000Z', expiresAt: '2026-03-01T10:00:59.000Z', expiresInSeconds: 59 },
    ]);
    expect((await call('GET', '/v1/blocked?offset=1&limit=1', viewer)).json().items.map((b: { source: string }) => b.source)).toEqual(['198.51.100.7']);
    const failures = (await call('GET', '/v1/source-failures', viewer)).json();
    expect(failures.items[0]).toEqual({ source: '192.0.2.66', idsp: 'sbc1.lab.example', total: 12, byKind: { signature: 11, replay: 1 }, first: '1970-01-01T00:00:01.000Z', last: '1970-01-01T00:00:02.000Z', blocked: true });

    expect((await call('DELETE', '/v1/blocked/192.0.2.66', viewer)).statusCode).toBe(403);
    expect((await call('DELETE', '/v1/blocked/not-an-address', admin)).json().code).toBe('invalid-source');
    const lifted = await call('DELETE', '/v1/blocked/192.0.2.66', admin);
    expect(lifted.json()).toEqual({ source: '192.0.2.66', lifted: true, idsps: ['sbc1.lab.example'] });
    expect(sbc.held.size).toBe(0);
    const apart = await call('DELETE', '/v1/blocked/198.51.100.7', admin);
    expect(apart.json()).toEqual({ source: '198.51.100.7', lifted: true, idsps: ['sbc2.lab.example'] });
    expect((await call('GET', '/v1/blocked', viewer)).json().total).toBe(0);
    expect((await call('DELETE', '/v1/blocked/203.0.113.1', admin)).json()).toEqual({ source: '203.0.113.1', lifted: false, idsps: [] });
    const asked = (await store.sbcState.actionsAfter(0)).filter((a) => a.action === 'unblock').map((a) => [a.target, a.origin]);
    expect(asked).toEqual([['192.0.2.66', sbc.instance], ['198.51.100.7', sbc.instance], ['203.0.113.1', sbc.instance]]);
    expect((await call('GET', '/v1/audit?action=sbc.unblock&target=198.51.100.7', viewer)).json().items[0].detail).toEqual({ lifted: true, idsps: ['sbc2.lab.example'] });
  });

  it('filters the audit log by target, actor, action and time range', async () => {
    t = Date.parse('2026-03-02T00:00:00Z');
    await store.audit.add('cli:root', 'terminal.disable', 'carol@lab.example');
    t = Date.parse('2026-03-03T00:00:00Z');
    await store.audit.add('cli:root', 'terminal.enable', 'carol@lab.example');
    const get = async (q: string) => (await call('GET', `/v1/audit?${q}`, viewer)).json().items.map((e: { action: string }) => e.action);
    expect(await get('target=carol@lab.example')).toEqual(['terminal.enable', 'terminal.disable']);
    expect(await get('actor=cli:&since=2026-03-01T12:00:00Z')).toEqual(['terminal.enable', 'terminal.disable']);
    expect(await get('since=2026-03-02&until=2026-03-03')).toEqual(['terminal.disable']);
    expect(await get('since=2026-03-02T01:00:00%2B01:00&until=2026-03-02T00:00:01Z')).toEqual(['terminal.disable']);
    expect(await get('actor=token:&target=carol@lab.example')).toEqual([]);
    const entry = (await call('GET', '/v1/audit?target=carol@lab.example&limit=1', viewer)).json();
    expect(entry).toMatchObject({ total: 2, limit: 1 });
    expect(entry.items[0].time).toBe('2026-03-03T00:00:00.000Z');
    for (const bad of ['since=yesterday', 'until=2026-03-02T10:00:00', 'since=1e309', 'bogus=1']) {
      const r = await call('GET', `/v1/audit?${bad}`, viewer);
      expect(r.statusCode, bad).toBe(400);
      expect(r.json().code).toBe('invalid-querystring');
    }
  });
});
