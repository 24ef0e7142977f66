/**
 * The intrusion detection on the HTTP side: failed tokens from one address
 * are blocked after the rule's count while another address is served; a
 * request without a token (the challenge) counts for nothing; injection in
 * an id of the URL is refused, with a token or without, and blocks the address.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { idsHooks } from '../../src/auc/api/ids-routes.js';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile } from '../../src/ids/load.js';
import { shippedRules } from '../../src/ids/service.js';

async function app() {
  const ids = new IdsEngine({ rules: loadRuleFile(shippedRules()) });
  const a = Fastify();
  idsHooks(a, ids);
  a.get('/v1/terminals/:id', async (req, reply) => (req.headers.authorization === 'Bearer good' ? { id: (req.params as { id: string }).id } : reply.code(401).send({ code: 'unauthorized' })));
  await a.ready();
  return { a, ids };
}

describe('intrusion detection on the API', () => {
  it('30 wrong tokens from an address block it; requests without a token do not count; another address is served', async () => {
    const { a } = await app();
    const from = (ip: string, auth?: string) => a.inject({ method: 'GET', url: '/v1/terminals/alice', remoteAddress: ip, ...(auth ? { headers: { authorization: auth } } : {}) });
    for (let i = 0; i < 100; i++) expect((await from('192.0.2.1')).statusCode).toBe(401);
    expect((await from('192.0.2.1', 'Bearer good')).statusCode).toBe(200);
    for (let i = 0; i < 30; i++) expect((await from('192.0.2.2', 'Bearer wrong')).statusCode).toBe(401);
    const blocked = await from('192.0.2.2', 'Bearer good');
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json()).toMatchObject({ code: 'refused' });
    expect((await from('192.0.2.3', 'Bearer good')).statusCode).toBe(200);
  });

  it("an id with SQL in it is refused before its route runs", async () => {
    const { a } = await app();
    const r = await a.inject({ method: 'GET', url: `/v1/terminals/${encodeURIComponent("bob';drop table terminals;--")}`, remoteAddress: '192.0.2.9', headers: { authorization: 'Bearer good' } });
    expect(r.statusCode).toBe(403);
  });

  it('SQL or script in the id of a request without a token: 403, and that address is then refused; another is served', async () => {
    for (const id of ["bob' or '1'='1", '<script>alert(1)</script>']) {
      const { a } = await app();
      const from = (ip: string, path: string, auth?: string) => a.inject({ method: 'GET', url: `/v1/terminals/${encodeURIComponent(path)}`, remoteAddress: ip, ...(auth ? { headers: { authorization: auth } } : {}) });
      const r = await from('192.0.2.20', id);
      expect(r.statusCode, id).toBe(403);
      // blocked: even a clean request with the right token
      expect((await from('192.0.2.20', 'alice', 'Bearer good')).statusCode, id).toBe(403);
      expect((await from('192.0.2.21', 'alice', 'Bearer good')).statusCode, id).toBe(200);
    }
  });
});
