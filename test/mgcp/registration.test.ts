import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { param } from '../../src/mgcp/types.js';
import { registerMgcpGateway } from '../../src/terminal/mgcp-gateway.js';
import { IDSP, startLab, type Lab } from './lab.js';
import { ask } from './udp.js';

const IDC = 'gw1@lab.example';
let lab: Lab;
afterEach(async () => lab?.close());

const keyId = (k: Buffer) => createHash('sha256').update(k).digest('hex').slice(0, 8);
const sent = (side: 'access' | 'core' | 'gateway', dir: 'in' | 'out') => lab.captures.filter((c) => c.side === side && c.dir === dir).map((c) => c.data.toString());

describe('MGCP registration through the SBC', () => {
  it('registers a gateway: s1..s10 over RSIP/RQNT/NTFY, a shared session key, s11 to the AuC, E_Ksp never on the access side', async () => {
    lab = await startLab();
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    const r = await gw.register();
    expect(r).toMatchObject({ ok: true, idsp: IDSP, mechanism: 'app-hmac' });
    if (!r.ok) return;
    const rec = lab.sbc.sessions.get(IDC)!;
    expect(rec.protocol).toBe('mgcp');
    expect(keyId(rec.session.keys.sessionKey)).toBe(r.sessionKeyId);
    expect(lab.auc.registrations).toHaveLength(1);
    expect(lab.auc.registrations[0]).toMatchObject({ idc: IDC, idsp: IDSP, protocol: 'mgcp', mechanism: 'app-hmac', ipc: '127.0.0.1', contact: '*@gw1.lab.example' });
    expect(lab.ss.registration(IDC)).toMatchObject({ idc: IDC, endpoint: '*@gw1.lab.example', mechanism: 'app-hmac' });
    // The call agent's s9 carried E_Ksp; nothing toward the gateway did.
    expect(sent('core', 'in').filter((t) => t.includes('X-KS-EKSP:'))).toHaveLength(1);
    expect(sent('access', 'out').some((t) => /x-ks-eksp/i.test(t))).toBe(false);
    const s10 = sent('gateway', 'in').find((t) => t.includes('X-KS-MAC:'))!;
    expect(s10).toMatch(/^RQNT \d+ \*@gw1\.lab\.example MGCP 1\.0\n/);
    for (const p of ['X-KS-EKC', 'X-KS-MECH', 'X-KS-MECHS', 'X-KS-N1', 'X-KS-N2', 'X-KS-TS']) expect(s10).toContain(`\n${p}: `);
    // The softswitch never sees the app-hmac lines either.
    expect(sent('core', 'out').some((t) => t.includes('X-KS-HMAC'))).toBe(false);
  });

  it('works through registerMgcpGateway without a configured IDsp and reports what it got', async () => {
    lab = await startLab();
    const kc = lab.provision(IDC);
    const r = await registerMgcpGateway({ idc: IDC, kc, sbc: { host: '127.0.0.1', port: lab.sbc.port }, listen: { host: '127.0.0.1', port: 0 }, transport: { initialRtoMs: 40 } });
    expect(r).toMatchObject({ ok: true, idsp: IDSP, mechanism: 'app-hmac' });
    expect(r.ok && /^[0-9a-f]{8}$/.test(r.sessionKeyId)).toBe(true);
    if (r.ok) await r.gateway.close();
  });

  it('a wrong key is challenged again with X-KS-RESULT: failed, then the gateway gives up as auth-failed', async () => {
    lab = await startLab();
    lab.provision(IDC);
    const gw = await lab.gateway({ idc: IDC, kc: Buffer.alloc(32, 7) });
    const r = await gw.register();
    expect(r).toMatchObject({ ok: false, kind: 'auth-failed' });
    expect(lab.auc.failedReports).toHaveLength(1);
    expect(lab.auc.registrations).toHaveLength(0);
    expect(lab.sbc.sessions.get(IDC)).toBeUndefined();
    expect(sent('gateway', 'in').filter((t) => t.includes('X-KS-RESULT: failed'))).toHaveLength(1);
  });

  it('an unknown IDc is challenged and fails as a wrong key does (X-KS-RESULT: failed), the reason only counted', async () => {
    lab = await startLab();
    const gw = await lab.gateway({ idc: 'nobody@lab.example', kc: Buffer.alloc(32, 1) });
    const r = await gw.register();
    expect(r).toMatchObject({ ok: false, kind: 'auth-failed', message: 'the call agent refused the response (wrong key?)' });
    expect(sent('gateway', 'in').filter((t) => t.includes('X-KS-RESULT: failed'))).toHaveLength(1);
    expect(lab.ss.stats().refusedIdentities).toBeGreaterThanOrEqual(1);
  });

  it('a gateway with no mechanism in common gets 510 naming the offer', async () => {
    lab = await startLab();
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC), mechs: 'tls;q=1' });
    const r = await gw.register();
    expect(r).toMatchObject({ ok: false, kind: 'error' });
    expect(!r.ok && r.message).toMatch(/NTFY refused: 510 .*no common mechanism/);
  });

  it('a replayed s1 or s7 gets nowhere', async () => {
    lab = await startLab();
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    const out = lab.captures.filter((c) => c.side === 'gateway' && c.dir === 'out');
    const s1 = out.find((c) => c.data.toString().startsWith('RSIP'))!.data;
    const s7 = out.find((c) => c.data.toString().includes('X-KS-RESPONSE'))!.data;
    expect(await ask(lab.sbc.port, s1)).toMatch(/^510 \d+ Protocol error: refused n1-replayed/);
    const before = lab.ss.stats().accepted;
    // N2 was spent: the SBC answers and asks for a fresh challenge, which goes to the replayer and is useless without Kc.
    expect(await ask(lab.sbc.port, s7)).toMatch(/^200 /);
    expect(lab.ss.stats().accepted).toBe(before);
    expect(lab.sbc.stats().counters.rechallenged).toBe(1);
  });
});

describe('MGCP app-hmac after registration', () => {
  it('protects commands both ways and refuses missing, wrong and replayed tags with 510 without forwarding them', async () => {
    lab = await startLab();
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    expect((await gw.register()).ok).toBe(true);
    const ntfy = [param('X', '0123abcd'), param('O', 'L/hd')];
    const processed = () => lab.ss.stats().processed.NTFY ?? 0;
    const base = processed();

    const good = await gw.command('NTFY', ntfy);
    expect(good.ok && good.response.code).toBe(200);
    expect(processed()).toBe(base + 1);

    const missing = await gw.command('NTFY', ntfy, { protect: 'none' });
    expect(missing.ok && `${missing.response.code} ${missing.response.text}`).toBe('510 Protocol error: app-hmac missing');
    const wrong = await gw.command('NTFY', ntfy, { protect: 'bad-tag' });
    expect(wrong.ok && `${wrong.response.code} ${wrong.response.text}`).toBe('510 Protocol error: app-hmac bad-tag');

    // An attacker replays the protected NTFY from elsewhere: the tag is right, the sequence number is spent.
    const captured = lab.captures.filter((c) => c.side === 'gateway' && c.dir === 'out' && c.data.toString().includes('X-KS-HMAC')).at(0)!.data;
    expect(await ask(lab.sbc.port, captured)).toMatch(/^510 \d+ Protocol error: app-hmac replayed/);
    expect(processed()).toBe(base + 1);
    expect(lab.sbc.stats().counters.hmacRejected).toEqual({ missing: 1, 'bad-tag': 1, replayed: 1, 'too-old': 0 });

    // Call agent → gateway: the SBC signs, the gateway verifies.
    const audit = await lab.ss.command(IDC, 'AUEP', [param('F', 'R,D')]);
    expect(audit.ok && audit.response.code).toBe(200);
    expect(gw.stats().rejected).toBe(0);
    const auep = lab.captures.find((c) => c.side === 'gateway' && c.dir === 'in' && c.data.toString().startsWith('AUEP'))!.data.toString();
    expect(auep).toMatch(/\nX-KS-SEQ: 1\nX-KS-HMAC: [A-Za-z0-9_-]{22}\n/);
  });

  it('refuses commands from gateways that are not registered', async () => {
    lab = await startLab();
    const r = await ask(lab.sbc.port, Buffer.from('NTFY 77 *@gw9.lab.example MGCP 1.0\nX: 1\nO: L/hd\n'));
    expect(r).toBe('510 77 Protocol error: not registered\n');
    expect(lab.ss.stats().processed.NTFY).toBeUndefined();
    const down = await lab.ss.command('gw9@lab.example', 'AUEP');
    expect(down).toEqual({ ok: false, error: 'not-registered' });
  });

  it('a new registration replaces the session key and restarts the sequence numbers', async () => {
    lab = await startLab();
    const gw = await lab.gateway({ idc: IDC, kc: lab.provision(IDC) });
    const first = await gw.register();
    expect((await gw.command('NTFY', [param('O', 'L/hd')])).ok).toBe(true);
    const second = await gw.register();
    expect(second.ok && first.ok && second.sessionKeyId !== first.sessionKeyId).toBe(true);
    const after = await gw.command('NTFY', [param('O', 'L/hu')]);
    expect(after.ok && after.response.code).toBe(200);
    expect(lab.auc.registrations).toHaveLength(2);
  });
});
