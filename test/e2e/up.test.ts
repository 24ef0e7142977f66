import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/index.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, makeContext, PG_URL, type EngineContext } from '../helpers/engines.js';
import { upEnv } from '../helpers/ports.js';

const hasSipp = spawnable('sipp');
const hasTshark = spawnable('tshark');
function spawnable(bin: string): boolean {
  return ['/usr/bin', '/usr/local/bin', '/usr/sbin'].some((d) => existsSync(join(d, bin)));
}

/** The whole system as `keyswitch up` runs it, each role reached over the wire. */
describeEngines('keyswitch up, end to end, AuC over RADIUS', (ctx) => upSuite(ctx, 'radius'));
describe('keyswitch up, end to end, AuC over Diameter [sqlite]', () => upSuite(makeContext('sqlite'), 'diameter'));

function upSuite(ctx: EngineContext, aucProtocol: 'radius' | 'diameter') {
  const dir = mkdtempSync(join(tmpdir(), 'ks-up-'));
  const pgOpts = ctx.storeOptions();
  const dbUrl = ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '';
  let env: NodeJS.ProcessEnv;
  let daemon: Daemon;
  let p: Record<string, number>;
  const g = ['--data-dir', join(dir, 'data')];
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    // the schema only: the master key the CLI makes with --init is the first this store records
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
    const up = await upEnv();
    p = up.ports;
    env = {
      ...up.env,
      KEYSWITCH_DB_URL: dbUrl,
      KEYSWITCH_LOG_LEVEL: 'warn',
      // sipp reads only the first WWW-Authenticate and knows only MD5
      KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
      KEYSWITCH_AUC_PROTOCOL: aucProtocol,
      // Plain TCP so that the capture below can read the Diameter leg (its connection opens before the capture,
      // so a TLS key log would not help); Diameter over TLS-PSK, the default, is tested in test/diameter/up-peers.test.ts.
      KEYSWITCH_DIAMETER_TLS: 'off',
    };
    for (const idc of ['alice@lab.example', 'gw1@lab.example']) {
      const r = ks([...g, '--init', 'provision', 'terminal', idc, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      keys[idc] = JSON.parse(r.stdout).key;
    }
    expect(ks([...g, '--init', 'provision', 'terminal', '1000@127.0.0.1', '--sip-password', 'sipp-secret'], env).code).toBe(0);
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env));
  });
  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  const register = (proto: string, idc: string, key: string, extra: string[] = []) => {
    const port = proto === 'sip' ? p.sbcSip : proto === 'mgcp' ? p.sbcMgcp : p.sbcH248;
    const r = ks(['terminal', 'register', '--proto', proto, '--id', idc, '--key', key, '--sbc', `127.0.0.1:${port}`, ...extra]);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    return { code: r.code, json: line ? JSON.parse(line) : undefined, stderr: r.stderr, stdout: r.stdout };
  };

  it('registers a SIP terminal with KS1 through SBC, softswitch and AuC, for each mechanism', () => {
    for (const [mechs, transport, want] of [
      [undefined, 'udp', 'tls-psk'],
      ['app-hmac;q=0.5', 'tcp', 'app-hmac'],
      ['tls;q=0.5', 'udp', 'tls'],
    ] as const) {
      // the SBC generated its certificate into the data directory at first start
      const ca = want === 'tls' ? ['--ca-file', join(dir, 'data', 'sbc-cert.pem')] : [];
      const r = register('sip', 'alice@lab.example', keys['alice@lab.example']!, [...(mechs ? ['--mechs', mechs] : []), '--transport', transport, ...ca]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.json).toMatchObject({ ok: true, protocol: 'sip', idc: 'alice@lab.example', idsp: 'sbc1.lab.example', mechanism: want });
      expect(r.json.sessionKeyId).toMatch(/^[0-9a-f]{8}$/);
      expect(r.stdout).not.toContain(keys['alice@lab.example']);
    }
  });

  it('registers MGCP and H.248 gateways through the same flow', () => {
    for (const proto of ['mgcp', 'h248']) {
      const r = register(proto, 'gw1@lab.example', keys['gw1@lab.example']!);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.json).toMatchObject({ ok: true, protocol: proto, idsp: 'sbc1.lab.example', mechanism: 'app-hmac' });
    }
  });

  it('exits 2 when authentication fails, for a wrong key and for an unknown terminal', () => {
    const wrong = register('sip', 'alice@lab.example', 'ab'.repeat(32));
    expect(wrong.code).toBe(2);
    expect(wrong.json).toMatchObject({ ok: false, authFailed: true });
    expect(register('sip', 'nobody@lab.example', 'ab'.repeat(32)).code).toBe(2);
    expect(register('mgcp', 'gw1@lab.example', 'cd'.repeat(32)).code).toBe(2);
  });

  it.skipIf(!hasSipp || ctx.engine !== 'sqlite')('lets sipp register through the SBC with SIP Digest (once, on SQLite: the engine plays no part in it; skipped without sipp)', () => {
    const r = spawnSyncSipp(['-sf', join(import.meta.dirname, '..', 'sipp', 'register-digest.xml'), '-m', '3', '-s', '1000', '-au', '1000', '-ap', 'sipp-secret', '-i', '127.0.0.1', '-p', '0', `127.0.0.1:${p.sbcSip}`]);
    expect(r.status, r.stderr).toBe(0);
    const bad = spawnSyncSipp(['-sf', join(import.meta.dirname, '..', 'sipp', 'register-digest.xml'), '-m', '1', '-s', '1000', '-au', '1000', '-ap', 'wrong', '-i', '127.0.0.1', '-p', '0', `127.0.0.1:${p.sbcSip}`]);
    expect(bad.status).not.toBe(0);
  });

  it.skipIf(!hasTshark || ctx.engine !== 'sqlite')(`tshark decodes a captured full flow — SIP on both legs and ${aucProtocol} — without malformed packets (once, on SQLite; skipped without tshark)`, async () => {
    const pcap = join(dir, 'flow.pcapng');
    const ports = [p.sbcSip, p.ssSip, p.rAuth, p.rAcct, p.dia];
    const cap = spawn('tshark', ['-i', 'lo', '-f', ports.map((x) => `port ${x}`).join(' or '), '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('tshark capture did not start')), 15_000);
      cap.stderr!.on('data', (d: Buffer) => {
        if (/Capturing on/.test(d.toString())) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    expect(register('sip', 'alice@lab.example', keys['alice@lab.example']!, ['--mechs', 'app-hmac;q=0.5']).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    cap.kill('SIGINT');
    await new Promise((r) => cap.once('exit', r));
    const decode = (filter: string) =>
      spawnSyncTool('tshark', ['-r', pcap, '-d', `udp.port==${p.sbcSip},sip`, '-d', `tcp.port==${p.sbcSip},sip`, '-d', `udp.port==${p.ssSip},sip`, '-d', `udp.port==${p.rAuth},radius`, '-d', `udp.port==${p.rAcct},radius`, '-d', `tcp.port==${p.dia},diameter`, '-Y', filter, '-T', 'fields', '-e', 'frame.number', '-e', '_ws.col.Protocol', '-e', '_ws.col.Info']);
    const sip = decode('sip').stdout.trim().split('\n').filter(Boolean);
    expect(sip.length).toBeGreaterThanOrEqual(8); // s1 s2 s5 s6 s7 s8 s9 s10, plus the protected refresh and OPTIONS
    expect(decode('sip.Status-Code == 401').stdout.trim().split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
    if (aucProtocol === 'radius') {
      expect(decode('radius').stdout.trim().split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(4); // Access-Request/Accept, Accounting-Request/Response
      expect(decode('radius.code == 2').stdout.trim()).not.toBe('');
    } else {
      // the softswitch's Diameter connection is up before the capture: the MAR/MAA and SAR/SAA of this registration
      expect(decode('diameter.cmd.code == 303').stdout.trim().split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
      expect(decode('diameter.cmd.code == 301').stdout.trim().split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
    }
    const bad = decode('_ws.malformed || _ws.expert.severity >= 8388608');
    expect(bad.stdout.trim(), bad.stdout).toBe('');
  });
}

function spawnSyncSipp(args: string[]) {
  return spawnSyncTool('sipp', [...args, '-nostdin', '-timeout', '20s', '-timeout_error']);
}

function spawnSyncTool(bin: string, args: string[]) {
  return spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000 });
}
