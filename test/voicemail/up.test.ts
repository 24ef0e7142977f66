import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenceClient, LicenceRequestError } from '../../src/contracts/licence-client.js';
import { openPackage } from '../../src/contracts/voicemail-package.js';
import { startUp, type Up } from '../helpers/up.js';
import { toneDeposit } from './fixture.js';

/**
 * The licence server as `keyswitch up` runs it: HTTPS on its own port with
 * the certificate and the media service key it made in the data directory,
 * which is what the media server uses; the operator's voicemail commands
 * and API routes on the same store.
 */
describe('voicemail licence server under keyswitch up, operator CLI and API', () => {
  let up: Up;
  let client: LicenceClient;
  let admin = '';
  let viewer = '';
  const api = (path: string, token: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${up.ports.api}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) } });

  beforeAll(async () => {
    up = await startUp({
      prefix: 'ks-vm-up-',
      terminals: [{ idc: 'bob@lab.example', sipPassword: 'bob-sip-secret' }, 'dave@lab.example'],
      before: (run) => {
        admin = run(['token', 'create', '--role', 'admin']).stdout.trim();
        viewer = run(['token', 'create', '--role', 'viewer']).stdout.trim();
      },
      ready: /AuC licence server/,
    });
    const data = join(up.dir, 'data');
    client = new LicenceClient({ url: `https://127.0.0.1:${up.ports.licence}`, certPem: readFileSync(join(data, 'licence-cert.pem'), 'utf8'), mediaKey: readFileSync(join(data, 'media-link.key'), 'utf8').trim() });
  }, 60_000);
  afterAll(() => up?.stop());

  it('takes a deposit from a client holding the data directory\'s certificate and service key, and gives the owner a licence', async () => {
    const m = toneDeposit('bob@lab.example', { maxPlays: 1 });
    expect((await client.deposit(m.deposit)).created).toBe(true);
    const l = await client.licence(m.deposit.messageId, 'bob@lab.example', 'bob-sip-secret');
    expect(openPackage(m.pkg, Buffer.from(l.contentKey, 'base64url')).audio.equals(m.tone.ulaw)).toBe(true);
    const spent = await client.licence(m.deposit.messageId, 'bob@lab.example', 'bob-sip-secret').catch((e: LicenceRequestError) => e);
    expect((spent as LicenceRequestError).code).toBe('spent');
  });

  it('keyswitch voicemail password gives a KS1-only terminal a credential; list shows grants without keys; revoke stops licences', async () => {
    const m = toneDeposit('dave@lab.example', { maxPlays: 5 });
    await client.deposit(m.deposit);
    const denied = await client.licence(m.deposit.messageId, 'dave@lab.example', 'dave-voicemail').catch((e: LicenceRequestError) => e);
    expect((denied as LicenceRequestError).statusCode).toBe(401);
    expect(up.ks(['voicemail', 'password', 'dave@lab.example', '--password', 'short']).code).toBe(2);
    const set = up.ks(['voicemail', 'password', 'dave@lab.example', '--password-stdin', '--json'], 'dave-voicemail\n');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ idc: 'dave@lab.example', voicemailPassword: 'set' });
    expect((await client.licence(m.deposit.messageId, 'dave@lab.example', 'dave-voicemail')).rights.playsLeft).toBe(4);
    const list = up.ks(['voicemail', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const item = JSON.parse(list.stdout).items.find((i: { id: string }) => i.id === m.deposit.messageId);
    expect(item.grants).toEqual([expect.objectContaining({ holder: 'dave@lab.example', playsLeft: 4, playsUsed: 1, status: 'active' })]);
    expect(list.stdout).not.toContain(m.deposit.contentKey);
    const rev = up.ks(['voicemail', 'revoke', m.deposit.messageId]);
    expect(rev.code, rev.stderr).toBe(0);
    const after = await client.licence(m.deposit.messageId, 'dave@lab.example', 'dave-voicemail').catch((e: LicenceRequestError) => e);
    expect((after as LicenceRequestError).code).toBe('revoked');
    expect(up.ks(['voicemail', 'revoke', 'f'.repeat(32)]).code).toBe(2);
  });

  it('the provisioning API: a viewer lists, only an admin revokes; the revocation is audited', async () => {
    const m = toneDeposit('bob@lab.example', { maxPlays: 5 });
    await client.deposit(m.deposit);
    const listed = await api('/v1/voicemail/messages', viewer);
    expect(listed.status).toBe(200);
    const body = await listed.text();
    expect(body).toContain(m.deposit.messageId);
    expect(body).not.toContain(m.deposit.contentKey);
    expect((await api(`/v1/voicemail/messages/${m.deposit.messageId}/revoke`, viewer, { method: 'POST' })).status).toBe(403);
    expect((await client.licence(m.deposit.messageId, 'bob@lab.example', 'bob-sip-secret')).rights.playsLeft).toBe(4);
    const r = await api(`/v1/voicemail/messages/${m.deposit.messageId}/revoke`, admin, { method: 'POST' });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { status: string }).status).toBe('revoked');
    const refused = await client.licence(m.deposit.messageId, 'bob@lab.example', 'bob-sip-secret').catch((e: LicenceRequestError) => e);
    expect((refused as LicenceRequestError).code).toBe('revoked');
    const audit = up.ks(['audit', '--action', 'voicemail.', '--json']);
    expect(audit.stdout).toContain('voicemail.revoke');
    expect(audit.stdout).toContain('voicemail.play');
    expect(audit.stdout).not.toContain(m.deposit.contentKey);
  });
});
