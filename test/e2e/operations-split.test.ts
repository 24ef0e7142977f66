/**
 * Issue 13 in the lab layout: `keyswitch auc`, `keyswitch softswitch` and
 * `keyswitch sbc` as separate processes on one store. The AuC's API sees the
 * SBC's blocks and failures per source through the store and steers it
 * (unblock, drop a de-registered terminal's session) through operator
 * actions the SBC polls (docs/operations.md, "Blocked sources and the SBCs").
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, rolesStore } from '../helpers/engines.js';
import { freePorts, upEnv } from '../helpers/ports.js';
import { inDialogRequest, startAttacker, type Attacker } from '../sbc/attacker.js';

const IDSP = 'sbc1.lab.example';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await sleep(250);
  }
}

describeEngines('operators and an SBC run apart: blocks, failures per source, unblock and session drops through the store', (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-ops-split-'));
  const daemons: Daemon[] = [];
  let sbc: Daemon;
  let p: Record<string, number>;
  let api: string;
  let admin: string;
  let aliceKey: string;
  let attacker: Attacker;

  const http = async (method: string, path: string) => {
    const r = await fetch(`${api}${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
    return { status: r.status, body: (await r.json()) as any };
  };
  const forgedBye = () =>
    inDialogRequest(attacker, {
      method: 'BYE',
      callId: 'forged-split',
      from: 'alice@lab.example',
      to: 'bob@lab.example',
      dialog: { localTag: 'x', remoteTag: 'y', remoteTarget: 'sip:bob@127.0.0.1:5999', routeSet: [`<sip:127.0.0.1:${p.sbcSip};lr;ks-rsa=AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA>`] },
    });

  beforeAll(async () => {
    const { dbUrl, masterKey, dataDir } = await rolesStore(ctx, dir);
    const up = await upEnv();
    p = up.ports;
    // roles run alone serve /healthz and /metrics on fixed defaults: free ones here
    const [ssHealth, sbcHealth, aucMetrics] = await freePorts(3);
    const sbcKey = randomBytes(32).toString('hex');
    const common: NodeJS.ProcessEnv = {
      ...up.env,
      KEYSWITCH_DB_URL: dbUrl,
      KEYSWITCH_MASTER_KEY: masterKey,
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_RADIUS_SECRET: randomBytes(16).toString('hex'),
      // these roles run apart reach the AuC over RADIUS, what this test reads (Diameter is the default)
      KEYSWITCH_AUC_PROTOCOL: 'radius',
      KEYSWITCH_CORE_LINK_KEY: randomBytes(32).toString('hex'),
      KEYSWITCH_SBC_GUARD_THRESHOLD: '3',
      KEYSWITCH_SBC_GUARD_WINDOW_MS: '60000',
      KEYSWITCH_SBC_GUARD_BLOCK_SECONDS: '600',
      KEYSWITCH_SOFTSWITCH_HEALTH: `127.0.0.1:${ssHealth}`,
      KEYSWITCH_SBC_HEALTH: `127.0.0.1:${sbcHealth}`,
      KEYSWITCH_AUC_METRICS: `127.0.0.1:${aucMetrics}`,
    };
    const auc = { ...common, KEYSWITCH_DATA_DIR: dataDir('auc') };
    expect(ks(['provision', 'proxy', IDSP, '--key', sbcKey], auc).code).toBe(0);
    const t = ks(['provision', 'terminal', 'alice@lab.example', '--json'], auc);
    expect(t.code, t.stderr).toBe(0);
    aliceKey = JSON.parse(t.stdout).key;
    admin = ks(['token', 'create', '--role', 'admin'], auc).stdout.trim();
    const a = await startDaemon(['auc'], /AuC provisioning API\s+(http:\/\/\S+)[\s\S]*AuC Diameter \(Cx\)/, auc);
    daemons.push(a.daemon);
    api = a.match[1]!;
    daemons.push((await startDaemon(['softswitch'], /softswitch SIP/, { ...common, KEYSWITCH_DATA_DIR: dataDir('softswitch') })).daemon);
    // info: the SBC says when it applies an operator's action
    sbc = (await startDaemon(['sbc'], /SBC H\.248 \(gateways\)/, { ...common, KEYSWITCH_DATA_DIR: dataDir('sbc'), KEYSWITCH_SBC_KEY: sbcKey, KEYSWITCH_LOG_LEVEL: 'info' })).daemon;
    daemons.push(sbc);
    attacker = await startAttacker(p.sbcSip!);
  });
  afterAll(async () => {
    attacker?.close();
    for (const d of daemons.reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  it('the AuC lists a block made by the SBC process and its failures per source, and its unblock reaches the SBC', async () => {
    for (let i = 0; i < 3; i++) expect((await attacker.ask(forgedBye()))?.status).toBe(403);
    expect(await attacker.ask(forgedBye(), 800)).toBeUndefined();
    const blocked = await eventually(async () => {
      const r = await http('GET', '/v1/blocked');
      return r.body.total > 0 ? r.body : undefined;
    }, 'the block is in the store');
    const flow = `127.0.0.2:${attacker.port}`; // the flow is blocked, not the address (a NAT's other terminals)
    expect(blocked.items).toEqual([expect.objectContaining({ source: flow, idsp: IDSP, reason: 'signature-failures', failures: 3, windowMs: 60000 })]);
    // the SBC writes its failures per source every few seconds when they changed
    const src = await eventually(async () => (await http('GET', '/v1/source-failures')).body.items.find((s: { source: string }) => s.source === flow), 'the snapshot is in the store');
    expect(src).toMatchObject({ idsp: IDSP, blocked: true });
    expect(src.byKind.signature).toBeGreaterThanOrEqual(3);

    const lifted = await http('DELETE', `/v1/blocked/${flow}`);
    expect(lifted.body).toEqual({ source: flow, lifted: true, idsps: [IDSP] });
    expect((await http('GET', '/v1/blocked')).body.total).toBe(0);
    await eventually(async () => ((await attacker.ask(forgedBye(), 500))?.status === 403 ? true : undefined), 'the SBC reads the unblock from the store');
    expect(sbc.output()).toMatch(/"source":"127\.0\.0\.2:\d+".*block lifted by an operator/);
  }, 120_000);

  it('a de-registration asks the SBC run apart to drop the session, and it does', async () => {
    const r = ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', aliceKey, '--sbc', `127.0.0.1:${p.sbcSip}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const list = await http('GET', '/v1/registrations');
    expect(list.body.items).toEqual([expect.objectContaining({ idc: 'alice@lab.example', protocol: 'sip', idsp: IDSP, source: '127.0.0.1', mechanism: 'tls-psk' })]);
    const gone = await http('DELETE', '/v1/registrations/alice@lab.example');
    expect(gone.body).toEqual({ idc: 'alice@lab.example', registrations: 1, bindings: 1, sbcSession: 'requested' });
    await eventually(() => (/"idc":"alice@lab\.example".*session dropped by an operator/.test(sbc.output()) ? true : undefined), 'the SBC drops the session');
    // a terminal that registers again is served: de-registration is not a ban
    expect(ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', aliceKey, '--sbc', `127.0.0.1:${p.sbcSip}`]).code).toBe(0);
  }, 120_000);
});
