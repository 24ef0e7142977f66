/**
 * Issue 13, visibility and control, against `keyswitch up`: live
 * registrations (API and CLI), de-registration, lockouts and unlock, blocked
 * sources and unblock, the audit filters, and what a viewer token may not do.
 * Terminals are real `keyswitch terminal` processes; the attacker is a UDP
 * socket on 127.0.0.2 sending forged header signatures to the SBC.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDb } from '../../src/store/index.js';
import { BIN, ks } from '../helpers/cli.js';
import { describeEngines, PG_URL } from '../helpers/engines.js';
import { startUp, type Up } from '../helpers/up.js';
import { inDialogRequest, startAttacker, type Attacker } from '../sbc/attacker.js';

const IDSP = 'sbc1.lab.example';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (up to 20 s) until `probe` holds: for what SBCs pick up on their poll. */
async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await sleep(200);
  }
}

describeEngines('operators against keyswitch up: registrations, lockouts, blocked sources, audit', (ctx) => {
  const pgOpts = ctx.storeOptions();
  const dbUrl = ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '';
  let up: Up;
  let keys: Record<string, string>;
  let p: Record<string, number>;
  let daemon: Up['daemon'];
  let api: string;
  let admin: string;
  let viewer: string;
  let attacker: Attacker;

  const http = async (method: string, path: string, token = admin) => {
    const r = await fetch(`${api}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const cli = (args: string[]) => {
    const r = up.ks(args);
    return { ...r, json: r.code === 0 && args.includes('--json') ? JSON.parse(r.stdout) : undefined };
  };
  const register = (idc: string, key: string, extra: string[] = []) => {
    const r = ks(['terminal', 'register', '--id', idc, '--key', key, '--sbc', `127.0.0.1:${p.sbcSip}`, ...extra]);
    return { code: r.code, json: JSON.parse(r.stdout.trim().split('\n').pop() || 'null'), out: r.stdout + r.stderr };
  };
  // A BYE inside a dialog this SBC never signed: its route-set signature fails.
  const forgedBye = () =>
    inDialogRequest(attacker, {
      method: 'BYE',
      callId: 'forged-1',
      from: 'alice@lab.example',
      to: 'bob@lab.example',
      dialog: { localTag: 'x', remoteTag: 'y', remoteTarget: 'sip:bob@127.0.0.1:5999', routeSet: [`<sip:127.0.0.1:${p.sbcSip};lr;ks-rsa=AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA>`] },
    });

  beforeAll(async () => {
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
    up = await startUp({
      terminals: ['alice@lab.example', 'bob@lab.example', 'carol@lab.example', 'dave@lab.example'],
      prefix: 'ks-ops-',
      dbUrl,
      env: {
        // the AuC lockout and the signature guard on their own: the intrusion detection (docs/ids.md) would stop the guessing first
        KEYSWITCH_IDS: 'off',
        KEYSWITCH_LOCKOUT_THRESHOLD: '3',
        KEYSWITCH_LOCKOUT_BASE_SECONDS: '600',
        KEYSWITCH_SBC_GUARD_THRESHOLD: '3',
        KEYSWITCH_SBC_GUARD_WINDOW_MS: '60000',
        KEYSWITCH_SBC_GUARD_BLOCK_SECONDS: '600',
      },
      before: (run) => {
        admin = run(['--init', 'token', 'create', '--role', 'admin', '--label', 'ops']).stdout.trim();
        viewer = run(['token', 'create', '--role', 'viewer']).stdout.trim();
      },
      ready: /AuC provisioning API\s+(http:\/\/\S+)[\s\S]*SBC H\.248 \(gateways\)/,
    });
    ({ keys, daemon, ports: p } = up);
    api = up.match[1]!;
    attacker = await startAttacker(p.sbcSip);
  });
  afterAll(async () => {
    attacker?.close();
    await up?.stop();
    await ctx.cleanup();
  });

  it('a registered terminal appears with its protocol, mechanism, SBC and source, in the API and the CLI', async () => {
    expect(register('alice@lab.example', keys['alice@lab.example']!).code).toBe(0);
    const r = register('bob@lab.example', keys['bob@lab.example']!, ['--proto', 'mgcp', '--sbc', `127.0.0.1:${p.sbcMgcp}`]);
    expect(r.code, r.out).toBe(0);
    const list = await http('GET', '/v1/registrations', viewer);
    expect(list.status).toBe(200);
    const alice = list.body.items.find((x: { idc: string }) => x.idc === 'alice@lab.example');
    expect(alice).toMatchObject({ protocol: 'sip', mechanism: 'tls-psk', idsp: IDSP, source: '127.0.0.1' });
    expect(alice.expiresInSeconds).toBeGreaterThan(0);
    expect(list.body.items.find((x: { idc: string }) => x.idc === 'bob@lab.example')).toMatchObject({ protocol: 'mgcp', mechanism: 'app-hmac', idsp: IDSP });
    expect((await http('GET', '/v1/registrations?protocol=mgcp', viewer)).body.items.map((x: { idc: string }) => x.idc)).toEqual(['bob@lab.example']);
    const viaCli = cli(['registrations', 'list', '--protocol', 'sip', '--json']);
    expect(viaCli.code, viaCli.stderr).toBe(0);
    const { expiresInSeconds: _e, ...same } = alice;
    expect(viaCli.json.items).toEqual([expect.objectContaining(same)]);
    const text = cli(['registrations', 'show', 'alice@lab.example']);
    expect(text.stdout).toMatch(/mechanism\s+tls-psk/);
    expect(text.stdout).toMatch(/source\s+127\.0\.0\.1/);
  });

  it('de-registering removes the registration: calls to the terminal no longer reach it', async () => {
    // alice answers calls, and goes on answering after she is de-registered: bob calls her once, then she is
    // de-registered and his next calls, once the softswitch has re-read its location store, reach someone else
    // (the voicemail server) while her terminal is still there to answer
    const answer = spawn(process.execPath, [BIN, 'terminal', 'answer', '--id', 'alice@lab.example', '--key', keys['alice@lab.example']!, '--sbc', `127.0.0.1:${p.sbcSip}`, '--calls', '100', '--timeout', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    answer.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(() => (/"event":"registered"/.test(out) ? true : undefined), 'alice registered to answer');
      const call = () => ks(['terminal', 'call', '--id', 'bob@lab.example', '--key', keys['bob@lab.example']!, '--sbc', `127.0.0.1:${p.sbcSip}`, '--to', 'alice@lab.example', '--hold', '0']);
      const first = call();
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect((await http('DELETE', '/v1/registrations/alice@lab.example?protocol=sip', viewer)).status).toBe(403);
      const gone = await http('DELETE', '/v1/registrations/alice@lab.example', admin);
      expect(gone.status).toBe(200);
      expect(gone.body).toMatchObject({ idc: 'alice@lab.example', registrations: 1, bindings: 1, sbcSession: 'dropped' });
      expect((await http('GET', '/v1/registrations/alice@lab.example', viewer)).body.items).toEqual([]);
      // the softswitch re-reads its location store within its cache's life (2 s); until then a call may still reach alice
      const elsewhere = await eventually(() => {
        const r = call();
        const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; callId?: string; dialog?: { remoteTarget: string } });
        const callId = events.find((e) => e.event === 'calling')?.callId;
        const answered = events.find((e) => e.event === 'answered');
        if (answered?.dialog?.remoteTarget.startsWith('sip:alice@') || out.includes(`"callId":"${callId}"`)) return undefined;
        return { ...r, callId, answered };
      }, "bob's call no longer reaches alice");
      // the call ended by itself (not killed): refused, or answered by another party than alice
      expect(elsewhere.code, elsewhere.stdout + elsewhere.stderr).not.toBeNull();
      if (elsewhere.answered) expect(elsewhere.answered.dialog?.remoteTarget).toMatch(/^sip:media@/);
      else expect(elsewhere.code).not.toBe(0);
      expect(out).not.toContain(`"callId":"${elsewhere.callId}"`);
    } finally {
      answer.kill('SIGTERM');
    }
    // the CLI de-registers too: bob's MGCP registration (his SIP ones, from calling, keep his SBC session), then the rest
    const mgcp = cli(['registrations', 'deregister', 'bob@lab.example', '--protocol', 'mgcp', '--json']);
    expect(mgcp.code, mgcp.stderr).toBe(0);
    expect(mgcp.json).toEqual({ idc: 'bob@lab.example', registrations: 1, bindings: 0, sbcSession: 'kept' });
    const rest = cli(['registrations', 'deregister', 'bob@lab.example']);
    expect(rest.stdout).toMatch(/^bob@lab\.example de-registered: [1-9]\d* registrations?, [1-9]\d* SIP bindings? removed; SBC session to be dropped by the SBCs/);
    expect(cli(['registrations', 'deregister', 'bob@lab.example']).code).toBe(2);
    expect((await http('GET', '/v1/registrations?prefix=bob', viewer)).body.total).toBe(0);
    const audit = await http('GET', '/v1/audit?action=registration.deregister', viewer);
    expect(audit.body.items.map((e: { target: string; actor: string; detail: { protocol?: string } }) => [e.target, e.actor.split(':')[0], e.detail.protocol ?? 'all'])).toEqual([
      ['bob@lab.example', 'cli', 'all'],
      ['bob@lab.example', 'cli', 'mgcp'],
      ['alice@lab.example', 'token', 'all'],
    ]);
  }, 120_000);

  it('wrong keys lock a terminal: status locked, listed in failures, logged at warn; unlock lets it register again', async () => {
    const wrong = 'ab'.repeat(32);
    for (let i = 0; i < 3; i++) expect(register('carol@lab.example', wrong).code).toBe(2);
    const carol = await http('GET', '/v1/terminals/carol@lab.example', viewer);
    expect(carol.body).toMatchObject({ id: 'carol@lab.example', status: 'locked', failures: 3 });
    expect(Date.parse(carol.body.lockedUntil)).toBeGreaterThan(Date.now());
    expect(register('carol@lab.example', keys['carol@lab.example']!).code).toBe(2); // the right key is refused while locked
    const failures = await http('GET', '/v1/failures?locked=true', viewer);
    expect(failures.body.items).toEqual([expect.objectContaining({ idc: 'carol@lab.example', locked: true, failures: 3, lockouts: 1 })]);
    expect(cli(['failures', 'list', '--locked']).stdout).toMatch(/carol@lab\.example\tLOCKED until/);
    expect(cli(['show', 'terminal', 'carol@lab.example']).stdout).toMatch(/status\s+locked until/);
    const warn = daemon.output().split('\n').filter((l) => l.includes('"idc":"carol@lab.example"'));
    expect(warn.some((l) => /"level":40/.test(l) && /"event":"lockout"/.test(l))).toBe(true);
    expect(warn.filter((l) => /"level":40/.test(l) && /"event":"auth-failure"/.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(daemon.output()).not.toContain(keys['carol@lab.example']);

    expect((await http('POST', '/v1/terminals/carol@lab.example/unlock', viewer)).status).toBe(403);
    const unlocked = await http('POST', '/v1/terminals/carol@lab.example/unlock', admin);
    expect(unlocked.body).toMatchObject({ status: 'active', failures: 0 });
    expect((await http('GET', '/v1/failures', viewer)).body.items.map((f: { idc: string }) => f.idc)).not.toContain('carol@lab.example');
    expect(register('carol@lab.example', keys['carol@lab.example']!).code).toBe(0);

    // the same through the CLI, for dave
    for (let i = 0; i < 3; i++) expect(register('dave@lab.example', wrong).code).toBe(2);
    expect(cli(['show', 'terminal', 'dave@lab.example', '--json']).json.status).toBe('locked');
    const r = cli(['unlock', 'dave@lab.example']);
    expect(r.stdout).toMatch(/unlocked \(it was locked; 3 failures, 1 lockouts\)/);
    expect(register('dave@lab.example', keys['dave@lab.example']!).code).toBe(0);
    const audit = (await http('GET', '/v1/audit?action=terminal.unlock', viewer)).body.items;
    expect(audit.map((e: { target: string; detail: { wasLocked: boolean } }) => [e.target, e.detail.wasLocked])).toEqual([
      ['dave@lab.example', true],
      ['carol@lab.example', true],
    ]);
  }, 120_000);

  it('a source sending forged signatures is blocked and listed; unblock (API at once, CLI within the poll) lets it through; others are served meanwhile', async () => {
    for (let i = 0; i < 3; i++) expect((await attacker.ask(forgedBye()))?.status).toBe(403);
    expect(await attacker.ask(forgedBye(), 800)).toBeUndefined(); // blocked: unread
    const flow = `127.0.0.2:${attacker.port}`; // the flow is blocked, not the address (a NAT's other terminals)
    const blocked = await http('GET', '/v1/blocked', viewer);
    expect(blocked.body.items).toEqual([expect.objectContaining({ source: flow, idsp: IDSP, reason: 'signature-failures', failures: 3, windowMs: 60000 })]);
    expect(blocked.body.items[0].expiresInSeconds).toBeGreaterThan(500);
    const sources = await http('GET', '/v1/source-failures', viewer);
    const atk = sources.body.items.find((s: { source: string }) => s.source === flow);
    expect(atk).toMatchObject({ idsp: IDSP, blocked: true });
    expect(atk.byKind.signature).toBeGreaterThanOrEqual(3);
    // the block was written to the store when made: the CLI sees it too
    expect(cli(['blocked', 'list', '--json']).json.items).toEqual([expect.objectContaining({ source: flow, idsp: IDSP })]);
    // a legitimate terminal on another address is served all along
    expect(register('alice@lab.example', keys['alice@lab.example']!).code).toBe(0);

    expect((await http('DELETE', `/v1/blocked/${flow}`, viewer)).status).toBe(403);
    expect(await attacker.ask(forgedBye(), 800)).toBeUndefined(); // a viewer changed nothing
    const lifted = await http('DELETE', `/v1/blocked/${flow}`, admin);
    expect(lifted.body).toEqual({ source: flow, lifted: true, idsps: [IDSP] });
    expect((await attacker.ask(forgedBye()))?.status).toBe(403); // read again (and refused: its signature is still forged)
    expect((await http('GET', '/v1/blocked', viewer)).body.total).toBe(0);

    // blocked again, lifted with the CLI: the SBC of `up` reads the request from the store on its next poll
    for (let i = 0; i < 2; i++) expect((await attacker.ask(forgedBye()))?.status).toBe(403);
    expect(await attacker.ask(forgedBye(), 800)).toBeUndefined();
    const r = cli(['blocked', 'unblock', flow]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/127\.0\.0\.2:\d+ unblocked \(blocked by sbc1\.lab\.example\)/);
    await eventually(async () => ((await attacker.ask(forgedBye(), 500))?.status === 403 ? true : undefined), 'the SBC lifts the block asked through the store');
    const audit = (await http('GET', `/v1/audit?target=${encodeURIComponent(flow)}`, viewer)).body.items;
    expect(audit.map((e: { action: string; actor: string }) => [e.action, e.actor.split(':')[0]])).toEqual([
      ['sbc.unblock', 'cli'],
      ['sbc.unblock', 'token'],
    ]);
  }, 120_000);

  it('filters the audit log by target, actor, action and time; a viewer reads but changes nothing', async () => {
    const since = new Date(Date.now() - 3600_000).toISOString();
    const all = await http('GET', `/v1/audit?since=${since}&limit=1000`, viewer);
    expect(all.status).toBe(200);
    expect(all.body.total).toBeGreaterThanOrEqual(10);
    const mine = await http('GET', '/v1/audit?actor=cli:&action=terminal.create', viewer);
    expect(mine.body.items.map((e: { target: string }) => e.target).sort()).toEqual(['alice@lab.example', 'bob@lab.example', 'carol@lab.example', 'dave@lab.example']);
    expect((await http('GET', `/v1/audit?until=${since}`, viewer)).body.total).toBe(0);
    const viaCli = cli(['audit', '--target', 'carol@lab.example', '--action', 'terminal.', '--json']);
    expect(viaCli.json.items.map((e: { action: string }) => e.action)).toEqual(['terminal.unlock', 'terminal.create']);
    expect(cli(['audit', '--since', 'yesterday']).code).toBe(2);

    // every change is refused to a viewer, and nothing changed
    for (const [method, path] of [
      ['POST', '/v1/terminals/alice@lab.example/disable'],
      ['POST', '/v1/terminals/alice@lab.example/rotate'],
      ['DELETE', '/v1/terminals/alice@lab.example'],
      ['POST', '/v1/terminals/alice@lab.example/unlock'],
      ['DELETE', '/v1/registrations/alice@lab.example'],
      ['DELETE', '/v1/blocked/127.0.0.2'],
    ] as const) {
      const r = await http(method, path, viewer);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.code).toBe('forbidden');
    }
    expect((await http('GET', '/v1/terminals/alice@lab.example', viewer)).body).toMatchObject({ status: 'active', keyGeneration: 1 });
    expect((await http('GET', '/v1/registrations/alice@lab.example', viewer)).body.items).toHaveLength(1);
  });
});
