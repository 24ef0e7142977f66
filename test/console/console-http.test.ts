import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi } from '../../src/auc/api/server.js';
import { createLogger } from '../../src/log/logger.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';

const FORM = 'application/x-www-form-urlencoded';

function cookiesOf(r: LightMyRequestResponse): string[] {
  const h = r.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h : [String(h)];
}

/**
 * The console's sign-in, session, CSRF and role rules, played by an attacker
 * against the API's own fastify instance: forged forms, forms from another
 * origin or another session, a viewer trying every change, a session after
 * logout, revocation and idle expiry. Each refusal is checked with the
 * legitimate request working beside it.
 */
describeEngines('web console: sign-in, sessions, CSRF, roles', (ctx) => {
  let store: Store;
  let app: FastifyInstance;
  let adminToken: string;
  let viewerToken: string;
  let t = Date.parse('2026-03-01T10:00:00Z');

  beforeAll(async () => {
    store = await ctx.open({ now: () => t });
    app = await buildApi({ store, logger: createLogger('silent'), bodyLimit: 1 << 20, console: { sessionIdleSeconds: 600, sessionMaxSeconds: 3600 } });
    adminToken = (await store.tokens.create('admin', 'ops')).token;
    viewerToken = (await store.tokens.create('viewer', 'noc')).token;
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await ctx.cleanup();
  });

  interface Session {
    cookie: string;
    csrf: string;
    setCookie: string;
  }

  async function signIn(token: string): Promise<Session> {
    const form = await app.inject({ url: '/console/login' });
    expect(form.statusCode).toBe(200);
    const nonceCookie = cookiesOf(form).find((c) => c.startsWith('ks_console_login='))!;
    const nonce = /name="_login" value="([^"]+)"/.exec(form.body)![1]!;
    const r = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { cookie: nonceCookie.split(';')[0]!, 'content-type': FORM, origin: 'http://localhost' },
      payload: new URLSearchParams({ _login: nonce, token }).toString(),
    });
    expect(r.statusCode, r.body).toBe(303);
    const setCookie = cookiesOf(r).find((c) => c.startsWith('ks_console='))!;
    const cookie = setCookie.split(';')[0]!;
    const page = await app.inject({ url: '/console/terminals', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!, setCookie };
  }

  const post = (s: Pick<Session, 'cookie'> | undefined, url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': FORM, ...(s ? { cookie: s.cookie } : {}), ...headers }, payload: new URLSearchParams(fields).toString() });

  it('sets the session cookie HttpOnly, SameSite=Strict, scoped to /console, not Secure over plain HTTP; the sign-in form cookie likewise', async () => {
    const s = await signIn(adminToken);
    const attrs = s.setCookie.split(';').map((a) => a.trim());
    expect(attrs).toContain('HttpOnly');
    expect(attrs).toContain('SameSite=Strict');
    expect(attrs).toContain('Path=/console');
    expect(attrs).toContain('Max-Age=3600');
    expect(attrs).not.toContain('Secure');
    expect(s.cookie).toMatch(/^ks_console=[A-Za-z0-9_-]{43}$/);
    const form = await app.inject({ url: '/console/login' });
    expect(cookiesOf(form)[0]).toMatch(/; HttpOnly; SameSite=Strict$/);
  });

  it('answers console pages with the API security headers and a CSP that allows only its own scripts and styles', async () => {
    const s = await signIn(viewerToken);
    for (const url of ['/console/login', '/console', '/console/terminals', '/console/static/console.js']) {
      // the sign-in page is for a browser without a session
      const r = await app.inject({ url, headers: url === '/console/login' ? {} : { cookie: s.cookie } });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-security-policy']).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      // the real origin on this console's own forms (no-referrer would make it "null"), none to other sites
      expect(r.headers['referrer-policy']).toBe('same-origin');
      expect(r.headers['cache-control']).toBe('no-store');
    }
    // no inline script or style anywhere a CSP would have to allow
    const page = await app.inject({ url: '/console', headers: { cookie: s.cookie } });
    expect(page.body).not.toMatch(/<script>|<style|style="|onclick=|onsubmit=/i);
  });

  it('sends a browser without a session to the sign-in page, and refuses its forms and streams', async () => {
    const r = await app.inject({ url: '/console/terminals' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/console/login');
    expect((await post(undefined, '/console/terminals/create', { id: 'nosession@lab.example' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/console/registrations/events' })).statusCode).toBe(401);
    // a made-up session cookie is no session
    const forged = await app.inject({ url: '/console', headers: { cookie: `ks_console=${randomBytes(32).toString('base64url')}` } });
    expect(forged.statusCode).toBe(303);
    expect(await store.terminals.get('nosession@lab.example')).toBeUndefined();
  });

  it('refuses a sign-in without the sign-in form\'s own token (login CSRF) or with a wrong operator token', async () => {
    const noNonce = await app.inject({ method: 'POST', url: '/console/login', headers: { 'content-type': FORM }, payload: new URLSearchParams({ token: adminToken }).toString() });
    expect(noNonce.statusCode).toBe(403);
    expect(cookiesOf(noNonce).some((c) => c.startsWith('ks_console=') && !c.startsWith('ks_console=;'))).toBe(false);
    const form = await app.inject({ url: '/console/login' });
    const nonceCookie = cookiesOf(form)[0]!.split(';')[0]!;
    const nonce = /name="_login" value="([^"]+)"/.exec(form.body)![1]!;
    const crossSite = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { cookie: nonceCookie, 'content-type': FORM, origin: 'http://evil.example' },
      payload: new URLSearchParams({ _login: nonce, token: adminToken }).toString(),
    });
    expect(crossSite.statusCode).toBe(403);
    const wrong = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { cookie: nonceCookie, 'content-type': FORM },
      payload: new URLSearchParams({ _login: nonce, token: `ks_${'0'.repeat(16)}_${'A'.repeat(43)}` }).toString(),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('Invalid or revoked token');
    expect(cookiesOf(wrong).some((c) => c.startsWith('ks_console=') && !c.startsWith('ks_console=;'))).toBe(false);
  });

  it('refuses a state-changing form without the session\'s CSRF token, with another session\'s, or from another origin; the same form with it works', async () => {
    const victim = await signIn(adminToken);
    const attacker = await signIn(adminToken);
    const id = 'csrf@lab.example';
    const tries: [string, Record<string, string>, Record<string, string>][] = [
      ['no token', { id }, {}],
      ['empty token', { id, _csrf: '' }, {}],
      ['another session\'s token', { id, _csrf: attacker.csrf }, {}],
      ['a token one character off', { id, _csrf: victim.csrf.slice(0, -1) + (victim.csrf.endsWith('A') ? 'B' : 'A') }, {}],
      ['right token, cross-site Origin', { id, _csrf: victim.csrf }, { origin: 'http://evil.example' }],
      ['right token, opaque Origin', { id, _csrf: victim.csrf }, { origin: 'null' }],
      ['right token, Sec-Fetch-Site cross-site', { id, _csrf: victim.csrf }, { 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [what, fields, headers] of tries) {
      const r = await post(victim, '/console/terminals/create', fields, headers);
      expect(r.statusCode, what).toBe(403);
      expect(r.body, what).toContain('CSRF');
    }
    expect(await store.terminals.get(id)).toBeUndefined();
    const ok = await post(victim, '/console/terminals/create', { id, _csrf: victim.csrf }, { origin: 'http://localhost', 'sec-fetch-site': 'same-origin' });
    expect(ok.statusCode).toBe(201);
    expect(ok.body).toMatch(/<code class="key" id="generated-key">[0-9a-f]{64}<\/code>/);
    expect(await store.terminals.get(id)).toMatchObject({ status: 'active', keyGeneration: 1 });
  });

  it('lets a viewer see every page but change nothing: every form is refused and nothing changes', async () => {
    const admin = await signIn(adminToken);
    const target = 'kept@lab.example';
    expect((await post(admin, '/console/terminals/create', { id: target, _csrf: admin.csrf, sipPassword: 'pw-1234' })).statusCode).toBe(201);
    expect((await post(admin, '/console/proxies/create', { id: 'sbc9.lab.example', _csrf: admin.csrf })).statusCode).toBe(201);
    await store.failures.put({ idc: target, count: 5, windowStart: t, lockouts: 1, lockedUntil: t + 60_000 });
    const auditBefore = (await store.audit.list(0, 1)).total;

    const viewer = await signIn(viewerToken);
    for (const url of ['/console', '/console/terminals', `/console/terminals/show?id=${encodeURIComponent(target)}`, '/console/proxies', '/console/registrations', '/console/failures', '/console/blocked', '/console/audit', '/console/import']) {
      const r = await app.inject({ url, headers: { cookie: viewer.cookie } });
      expect(r.statusCode, url).toBe(200);
      // no form that changes anything is offered to a viewer (sign-out is the only one)
      expect([...r.body.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]), url).toEqual(['/console/logout']);
    }
    const forms: [string, Record<string, string>][] = [
      ['/console/terminals/create', { id: 'viewer-made@lab.example' }],
      ['/console/terminals/rotate', { id: target, generation: '1' }],
      ['/console/terminals/disable', { id: target }],
      ['/console/terminals/sip-password', { id: target, remove: '1' }],
      ['/console/terminals/delete', { id: target }],
      ['/console/proxies/delete', { id: 'sbc9.lab.example' }],
      ['/console/failures/unlock', { idc: target }],
      ['/console/blocked/unblock', { source: '192.0.2.9' }],
      ['/console/registrations/deregister', { idc: target }],
      ['/console/import', { csv: 'idc\nviewer-import@lab.example\n' }],
    ];
    for (const [url, fields] of forms) {
      const r = await post(viewer, url, { ...fields, _csrf: viewer.csrf });
      expect(r.statusCode, url).toBe(403);
      expect(r.body, url).toContain('viewer role');
    }
    // a form that does not parse changes nothing either: the console's CSRF check refuses it (403); the
    // API decides the viewer's role before it reads a body (403 forbidden, not 400)
    const garbled = await app.inject({ method: 'POST', url: '/console/terminals/create', headers: { cookie: viewer.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'id=%zz%&_csrf=%%' });
    expect(garbled.statusCode).toBe(403);
    const api = await app.inject({ method: 'POST', url: '/v1/terminals', headers: { authorization: `Bearer ${viewerToken}`, 'content-type': 'application/json' }, payload: '{"id": "x@lab.example",' });
    expect(api.statusCode).toBe(403);
    expect(api.json()).toMatchObject({ code: 'forbidden' });
    expect(await store.terminals.get(target)).toMatchObject({ status: 'active', keyGeneration: 1, hasSipPassword: true });
    expect(await store.proxies.get('sbc9.lab.example')).toBeDefined();
    expect(await store.terminals.get('viewer-made@lab.example')).toBeUndefined();
    expect(await store.terminals.get('viewer-import@lab.example')).toBeUndefined();
    expect((await store.failures.get(target))?.lockedUntil).toBe(t + 60_000);
    expect((await store.audit.list(0, 1)).total).toBe(auditBefore + 1); // the viewer's sign-in, nothing else
    // and the admin's same form still works
    const unlock = await post(admin, '/console/failures/unlock', { idc: target, _csrf: admin.csrf });
    expect(unlock.statusCode).toBe(303);
    expect(await store.failures.get(target)).toBeUndefined();
    expect((await store.audit.list(0, 1, { action: 'terminal.unlock', target })).items[0]?.actor).toMatch(/^token:[0-9a-f]{16}\(admin:ops\)$/);
  });

  it('shows a generated key in that one answer only: not on the terminal\'s page, not in the audit; a reloaded rotate form rotates nothing', async () => {
    const s = await signIn(adminToken);
    const id = 'rotate@lab.example';
    const created = await post(s, '/console/terminals/create', { id, _csrf: s.csrf });
    const key1 = /id="generated-key">([0-9a-f]{64})</.exec(created.body)![1]!;
    const rotated = await post(s, '/console/terminals/rotate', { id, generation: '1', _csrf: s.csrf });
    expect(rotated.statusCode).toBe(200);
    const key2 = /id="generated-key">([0-9a-f]{64})</.exec(rotated.body)![1]!;
    expect(key2).not.toBe(key1);
    expect((await store.terminals.key(id))!.key.toString('hex')).toBe(key2);
    // the same form again (a reload) is for generation 1: refused, the key stays
    const again = await post(s, '/console/terminals/rotate', { id, generation: '1', _csrf: s.csrf });
    expect(again.statusCode).toBe(409);
    expect((await store.terminals.get(id))!.keyGeneration).toBe(2);
    const show = await app.inject({ url: `/console/terminals/show?id=${encodeURIComponent(id)}`, headers: { cookie: s.cookie } });
    const audit = await app.inject({ url: `/console/audit?target=${encodeURIComponent(id)}`, headers: { cookie: s.cookie } });
    for (const body of [show.body, audit.body]) {
      expect(body).not.toContain(key1);
      expect(body).not.toContain(key2);
    }
    expect(audit.body).toContain('terminal.rotate');
  });

  it('ends the session at logout, when its token is revoked, and after the idle time; a new sign-in gets a new session id', async () => {
    const a = await signIn(adminToken);
    const b = await signIn(adminToken);
    expect(a.cookie).not.toBe(b.cookie);
    // logout needs the CSRF token too (no forced logout from another site)
    expect((await post(a, '/console/logout', {})).statusCode).toBe(403);
    const out = await post(a, '/console/logout', { _csrf: a.csrf });
    expect(out.statusCode).toBe(303);
    expect(cookiesOf(out).find((c) => c.startsWith('ks_console='))).toMatch(/^ks_console=; .*Max-Age=0/);
    expect((await app.inject({ url: '/console', headers: { cookie: a.cookie } })).headers.location).toBe('/console/login?done=expired');
    expect((await app.inject({ url: '/console', headers: { cookie: b.cookie } })).statusCode).toBe(200);

    // idle: 600 s without a request
    t += 601_000;
    expect((await app.inject({ url: '/console', headers: { cookie: b.cookie } })).statusCode).toBe(303);

    // revoked: the next request of every session of that token is refused
    const { token, record } = await store.tokens.create('admin', 'temp');
    const c = await signIn(token);
    expect((await app.inject({ url: '/console', headers: { cookie: c.cookie } })).statusCode).toBe(200);
    await store.tokens.revoke(record.id);
    expect((await app.inject({ url: '/console', headers: { cookie: c.cookie } })).statusCode).toBe(303);
    expect((await post(c, '/console/terminals/create', { id: 'revoked@lab.example', _csrf: c.csrf })).statusCode).toBe(401);
    expect(await store.terminals.get('revoked@lab.example')).toBeUndefined();
  });

  it('ends a session at its absolute lifetime even when used all along', async () => {
    const s = await signIn(adminToken);
    for (let i = 0; i < 7; i++) {
      t += 500_000; // within the idle time each step
      expect((await app.inject({ url: '/console', headers: { cookie: s.cookie } })).statusCode, `step ${i}`).toBe(200);
    }
    t += 500_000; // 4,000 s after sign-in: past the 3,600 s lifetime
    expect((await app.inject({ url: '/console', headers: { cookie: s.cookie } })).statusCode).toBe(303);
  });

  it('escapes what it shows: an identity or audit text with markup is text, never markup', async () => {
    const s = await signIn(adminToken);
    await store.audit.add('cli', 'terminal.note', '<script>alert(1)</script>', { note: '"><img src=x onerror=alert(1)>' });
    const r = await app.inject({ url: '/console/audit', headers: { cookie: s.cookie } });
    expect(r.body).not.toContain('<script>alert(1)</script>');
    expect(r.body).not.toContain('<img src=x');
    expect(r.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
