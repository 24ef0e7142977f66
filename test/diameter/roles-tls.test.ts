/**
 * The lab layout of docker-compose.yml on one machine: `keyswitch auc`,
 * `keyswitch softswitch` and `keyswitch sbc` as separate processes, each with
 * its own data directory on PostgreSQL (one shared directory on SQLite), the
 * softswitch reaching the AuC over Diameter/TLS-PSK with only its own
 * derived key, and the AuC admitting only that softswitch.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { peerPsk } from '../../src/diameter/tls-psk.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { describeEngines, rolesStore } from '../helpers/engines.js';
import { freePorts, upEnv } from '../helpers/ports.js';
import { cerBytes, rawPeer } from './helpers.js';

const ORIGIN = 'ss-lab.example';

describeEngines('separate roles: softswitch to AuC over Diameter/TLS-PSK with a per-peer key', (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-roles-tls-'));
  const daemons: Daemon[] = [];
  let ports: Record<string, number>;
  let aliceKey: string;
  let sbcSip: number;

  beforeAll(async () => {
    const { dbUrl, masterKey, dataDir } = await rolesStore(ctx, dir);
    const up = await upEnv();
    const [ssHealth, sbcHealth] = await freePorts(2);
    ports = up.ports;
    sbcSip = ports.sbcSip!;
    const secret = randomBytes(32).toString('hex');
    // The derivation docs/diameter.md gives, done here independently of the code under test.
    const ownKey = createHmac('sha256', Buffer.from(secret, 'hex')).update('keyswitch diameter psk\0').update(ORIGIN).digest('hex');
    const sbcKey = randomBytes(32).toString('hex');
    const common: NodeJS.ProcessEnv = {
      ...up.env,
      KEYSWITCH_DB_URL: dbUrl,
      KEYSWITCH_MASTER_KEY: masterKey,
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_CORE_LINK_KEY: randomBytes(32).toString('hex'),
      KEYSWITCH_SOFTSWITCH_HEALTH: `127.0.0.1:${ssHealth}`,
      KEYSWITCH_SBC_HEALTH: `127.0.0.1:${sbcHealth}`,
      KEYSWITCH_DIAMETER_TLS: 'psk',
    };
    const auc = { ...common, KEYSWITCH_DATA_DIR: dataDir('auc'), KEYSWITCH_DIAMETER_PSK: secret, KEYSWITCH_DIAMETER_PEERS: `${ORIGIN}@127.0.0.1` };
    const prov = ks(['provision', 'proxy', 'sbc1.lab.example', '--key', sbcKey], auc);
    expect(prov.code, prov.stderr).toBe(0);
    const t = ks(['provision', 'terminal', 'alice@lab.example', '--json'], auc);
    expect(t.code, t.stderr).toBe(0);
    aliceKey = JSON.parse(t.stdout).key;
    daemons.push((await startDaemon(['auc'], /AuC Diameter \(Cx\)/, auc)).daemon);
    // the softswitch holds only its own key, not the AuC's secret
    const softswitch = {
      ...common,
      KEYSWITCH_DATA_DIR: dataDir('softswitch'),
      KEYSWITCH_AUC_PROTOCOL: 'diameter',
      KEYSWITCH_AUC_PEERS: `127.0.0.1:${ports.dia}`,
      KEYSWITCH_SOFTSWITCH_ORIGIN_HOST: ORIGIN,
      KEYSWITCH_SOFTSWITCH_AUC_PSK: ownKey,
    };
    daemons.push((await startDaemon(['softswitch'], /softswitch SIP/, softswitch)).daemon);
    daemons.push((await startDaemon(['sbc'], /SBC H\.248 \(gateways\)/, { ...common, KEYSWITCH_DATA_DIR: dataDir('sbc'), KEYSWITCH_SBC_KEY: sbcKey })).daemon);
  });
  afterAll(async () => {
    for (const d of daemons.reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  it('registers a terminal through sbc, softswitch and auc processes, the Cx link over TLS-PSK', () => {
    expect(daemons[0]!.output()).toMatch(/tls-psk \d+/);
    const r = ks(['terminal', 'register', '--proto', 'sip', '--id', 'alice@lab.example', '--key', aliceKey, '--sbc', `127.0.0.1:${sbcSip}`, '--mechs', 'app-hmac;q=0.5']);
    expect(r.code, r.stdout + r.stderr + daemons.map((d) => d.output()).join('\n')).toBe(0);
  });

  it('gives a plain-TCP CER on the TLS port nothing back and closes it', async () => {
    const raw = await rawPeer(ports.dia!, undefined, ORIGIN);
    raw.socket.write(cerBytes(1, ORIGIN));
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(raw.received).toHaveLength(0);
  });

  it.skipIf(spawnSync('openssl', ['version']).status !== 0)('derives the per-peer key as the openssl command in docs/diameter.md does', () => {
    const secret = randomBytes(32).toString('hex');
    const viaOpenssl = spawnSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${secret}`, '-r'], { input: Buffer.from(`keyswitch diameter psk\0${ORIGIN}`) });
    expect(viaOpenssl.stdout.toString().split(' ')[0]).toBe(peerPsk(Buffer.from(secret, 'hex'), ORIGIN).toString('hex'));
  });
});
