/**
 * A live registration through `keyswitch up`, captured on loopback: every
 * RAS datagram on both legs (endpoint ⇄ SBC, SBC ⇄ gatekeeper) read by
 * tshark's h225 dissector (decode-as on the ephemeral ports, udp/1719 in
 * production) with no malformed packet and no expert info of warning
 * severity or above, and the KS1 and H.235 tokens visible as fields.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AES256_GCM_OID, KS_OID } from '../../src/adapters/h323/oids.js';
import { OID } from '../../src/h323/index.js';
import { H323Endpoint } from '../../src/terminal/h323-endpoint.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';

const hasTshark = spawnSync('tshark', ['--version']).status === 0;
if (!hasTshark) console.warn('[keyswitch tests] tshark not installed: live H.225.0 RAS capture SKIPPED');
/** Wireshark's PI_WARN. */
const PI_WARN = 0x00600000;

describe.skipIf(!hasTshark)('H.323 RAS of a live registration, as tshark reads it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-h323-tshark-'));
  const g = ['--data-dir', join(dir, 'data')];
  let daemon: Daemon;
  let ports: Record<string, number>;
  let key = '';

  beforeAll(async () => {
    const up = await upEnv();
    ports = up.ports;
    // the probe below fails its registration until the capture sees it: the intrusion detection would block 127.0.0.1 (docs/ids.md)
    const env = { ...up.env, KEYSWITCH_LOG_LEVEL: 'error', KEYSWITCH_IDS: 'off' };
    const r = ks([...g, '--init', 'provision', 'terminal', 'ep1@lab.example', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    key = JSON.parse(r.stdout).key;
    expect(ks([...g, '--init', 'provision', 'terminal', 'plain@lab.example', '--sip-password', 'h235-secret'], env).code).toBe(0);
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.323 \(endpoints\)/, env));
  });
  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes every RAS message of KS1 and H.235.1 registrations clean, with the tokens as fields', async () => {
    const pcap = join(dir, 'ras.pcapng');
    const watched = [ports.sbcH323!, ports.ssH323!];
    // -P prints each packet as it is captured: the probe below shows when the capture really sees the ports.
    const cap: ChildProcess = spawn('tshark', ['-P', '-i', 'lo', '-f', watched.map((p) => `udp port ${p}`).join(' or '), '-w', pcap], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    cap.stdout!.on('data', (d: Buffer) => (seen += d.toString().split('\n').filter(Boolean).length));
    const probe = await H323Endpoint.open({ idc: 'probe@lab.example', password: 'x', sbc: { host: '127.0.0.1', port: ports.sbcH323! }, local: { host: '127.0.0.1', port: 0 } });
    try {
      // A plain GRQ (answered GCF): harmless, and RAS like the rest.
      for (let i = 0; i < 100 && seen === 0; i++) {
        await probe.register().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await probe.close();
    }
    expect(seen).toBeGreaterThan(0);
    const sbc = { host: '127.0.0.1', port: ports.sbcH323! };
    const ks1 = await H323Endpoint.open({ idc: 'ep1@lab.example', kc: Buffer.from(key, 'hex'), sbc, local: { host: '127.0.0.1', port: 0 } });
    const plain = await H323Endpoint.open({ idc: 'plain@lab.example', password: 'h235-secret', sbc, local: { host: '127.0.0.1', port: 0 } });
    try {
      expect((await ks1.register()).ok).toBe(true);
      expect((await ks1.keepAlive()).ok).toBe(true);
      expect((await ks1.unregister()).ok).toBe(true);
      expect((await plain.register()).ok).toBe(true);
      expect((await plain.keepAlive()).ok).toBe(true);
      expect((await plain.unregister()).ok).toBe(true);
    } finally {
      await ks1.close();
      await plain.close();
      await new Promise((r) => setTimeout(r, 500));
      cap.kill('SIGINT');
      await new Promise((r) => cap.once('exit', r));
    }
    const decodeAs = watched.flatMap((p) => ['-d', `udp.port==${p},h225`]);
    const tshark = (...args: string[]) => execFileSync('tshark', ['-r', pcap, ...decodeAs, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(tshark('-Y', `_ws.malformed || _ws.expert.severity >= ${PI_WARN}`).trim()).toBe('');
    const names = ['frame.protocols', 'h225.RasMessage', 'h235.tokenOID', 'h235.elementID', 'h235.challenge', 'h235.generalID', 'h235.sendersID', 'h235.name', 'h235.algorithmOID', 'h235.encryptedSessionKey', 'h235.hash', 'h225.keepAlive', 'h225.endpointIdentifier'];
    const rows = tshark('-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=;', ...names.flatMap((n) => ['-e', n]))
      .split('\n')
      .filter(Boolean)
      .map((l) => Object.fromEntries(l.split('|').map((v, i) => [names[i]!, v])));
    // KS1: GRQ, GRJ, RRQ, RCF, keepAlive RRQ, RCF, URQ, UCF on each leg (16); H.235.1: GRQ, GCF, then RRQ, RCF, keepAlive RRQ, RCF, URQ, UCF on each leg (14); the probes.
    expect(rows.length).toBeGreaterThanOrEqual(30);
    for (const r of rows) expect(r['frame.protocols']).toMatch(/:udp:h225$/);
    const all = (f: string) => rows.map((r) => r[f]).join(';');
    expect(all('h235.tokenOID')).toContain(KS_OID.ks1);
    expect(all('h235.tokenOID')).toContain(KS_OID.relay);
    expect(all('h235.tokenOID')).toContain(OID.h2351AllFields);
    expect(all('h235.algorithmOID')).toContain(KS_OID.appHmac);
    expect(all('h235.algorithmOID')).toContain(OID.hmacSha1_96);
    expect(all('h235.algorithmOID')).toContain(AES256_GCM_OID);
    expect(all('h235.sendersID')).toContain('ep1@lab.example');
    expect(all('h235.generalID')).toContain('sbc1.lab.example');
    expect(all('h235.name')).toContain('app-hmac;q=0.5');
    for (const id of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11']) expect(all('h235.elementID').split(';')).toContain(id);
    expect(rows.some((r) => r['h235.encryptedSessionKey'] !== '')).toBe(true);
    expect(rows.filter((r) => r['h225.keepAlive'] === '1' || r['h225.keepAlive'] === 'True').length).toBeGreaterThanOrEqual(4);
  });
});
