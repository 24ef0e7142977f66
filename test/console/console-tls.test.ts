import { request } from 'node:https';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi } from '../../src/auc/api/server.js';
import { CONSOLE_DEFAULTS, CONSOLE_PREFIX, consolePlugin } from '../../src/auc/console/plugin.js';
import { createLogger } from '../../src/log/logger.js';
import { makeSelfSigned } from '../../src/crypto/certificate.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';

function get(port: number, path: string, ca: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; cookies: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost', method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cookies: res.headers['set-cookie'] ?? [], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The console's cookies carry Secure when it is served over TLS, or always with secureCookie 'on' (TLS ending in front). */
describeEngines('web console cookies over TLS', (ctx) => {
  let store: Store;
  let tls: FastifyInstance;
  let plain: FastifyInstance;
  let cert: { cert: string; key: string };
  let token: string;

  beforeAll(async () => {
    store = await ctx.open();
    token = (await store.tokens.create('admin', 'tls')).token;
    cert = makeSelfSigned('localhost', ['127.0.0.1'], 1);
    tls = Fastify({ https: { key: cert.key, cert: cert.cert } });
    await tls.register(consolePlugin, { prefix: CONSOLE_PREFIX, store, ...CONSOLE_DEFAULTS });
    await tls.listen({ host: '127.0.0.1', port: 0 });
    plain = await buildApi({ store, logger: createLogger('silent'), bodyLimit: 1 << 20, console: { secureCookie: 'on' } });
  });
  afterAll(async () => {
    await tls?.close();
    await plain?.close();
    await store?.close();
    await ctx.cleanup();
  });

  it('marks the sign-in and session cookies Secure over TLS', async () => {
    const port = (tls.server.address() as { port: number }).port;
    const form = await get(port, '/console/login', cert.cert);
    expect(form.status).toBe(200);
    expect(form.cookies[0]).toMatch(/^ks_console_login=[A-Za-z0-9_-]{43}; Path=\/console; Max-Age=600; HttpOnly; SameSite=Strict; Secure$/);
    const nonce = /name="_login" value="([^"]+)"/.exec(form.body)![1]!;
    const body = new URLSearchParams({ _login: nonce, token }).toString();
    const signedIn = await get(
      port,
      '/console/login',
      cert.cert,
      { cookie: form.cookies[0]!.split(';')[0]!, 'content-type': 'application/x-www-form-urlencoded', origin: `https://127.0.0.1:${port}`, 'content-length': String(Buffer.byteLength(body)) },
      body,
    );
    expect(signedIn.status, signedIn.body).toBe(303);
    const session = signedIn.cookies.find((c) => c.startsWith('ks_console='))!;
    expect(session).toMatch(/^ks_console=[A-Za-z0-9_-]{43}; Path=\/console; Max-Age=28800; HttpOnly; SameSite=Strict; Secure$/);
  });

  it('marks them Secure over plain HTTP too with secureCookie on (TLS ends at a proxy in front)', async () => {
    const r = await plain.inject({ url: '/console/login' });
    expect(String(r.headers['set-cookie'])).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
  });
});
