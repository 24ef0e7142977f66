/**
 * Issue 8 item 7, the TLS-PSK part, against `keyswitch up`: the TLS-PSK port must not tell
 * an identity it holds a session key for from one it does not. An attacker tries alice's
 * identity (registered, so the SBC holds her Kc,sp) with a wrong key, a provisioned
 * identity that never registered, and one that does not exist: every handshake fails with
 * the same alert (bad_record_mac, 20), with Node's client and with `openssl s_client`.
 * Alice herself still registers over TLS-PSK.
 */
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PSK_CIPHERS } from '../../src/sip/index.js';
import { registerSip } from '../../src/terminal/register.js';
import { startUp, type Up } from '../helpers/up.js';

const hasOpenssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].some((f) => existsSync(f));

/** The alert a Node TLS-PSK client gets, as `code alert-number`, or `connected`. */
function nodeAttempt(port: number, identity: string, psk: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined, pskCallback: () => ({ identity, psk }) });
    s.on('secureConnect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      s.destroy();
      resolve(`${e.code} ${/alert number (\d+)/.exec(e.message)?.[1]}`);
    });
  });
}

/** The alert number `openssl s_client` reports. */
function opensslAttempt(port: number, identity: string, psk: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-cipher', 'PSK', '-psk_identity', identity, '-psk', psk.toString('hex')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.stdin.end();
    const t = setTimeout(() => p.kill(), 10_000);
    p.on('exit', () => {
      clearTimeout(t);
      resolve(/alert number (\d+)/.exec(out)?.[1] ?? /(alert [a-z ]+)/.exec(out)?.[1] ?? 'no alert');
    });
  });
}

describe('keyswitch up: the TLS-PSK port is no identity oracle', () => {
  let up: Up;
  let p: Record<string, number>;
  const keys: Record<string, Buffer> = {};

  beforeAll(async () => {
    up = await startUp({ terminals: ['alice@lab.example', 'carol@lab.example'], prefix: 'ks-psk-' });
    p = up.ports;
    for (const [idc, hex] of Object.entries(up.keys)) keys[idc] = Buffer.from(hex, 'hex');
    // alice registers over TLS-PSK: the SBC now holds a session key for her identity
    const r = await registerSip({ idc: 'alice@lab.example', kc: keys['alice@lab.example']!, mechs: 'tls-psk;q=0.5', transport: 'udp', sbc: { host: '127.0.0.1', port: p.sbcSip! } });
    expect(r).toMatchObject({ ok: true, mechanism: 'tls-psk' });
  });
  afterAll(async () => {
    await up?.stop();
  });

  const wrong = Buffer.alloc(32, 0x5a);
  const identities = ['alice@lab.example', 'carol@lab.example', 'nobody@lab.example'];

  it('Node client: a held identity with a wrong key, one without a session and an unknown one get the same alert', async () => {
    const got: string[] = [];
    for (const id of identities) got.push(await nodeAttempt(p.sbcPsk!, id, wrong));
    // alert 20 (bad_record_mac); OpenSSL versions name its error code differently
    expect(got[0]).toMatch(/^ERR_SSL_\S*BAD_RECORD_MAC 20$/);
    expect(got).toEqual(identities.map(() => got[0]));
  });

  it.runIf(hasOpenssl)('openssl s_client: the same alert for all three', async () => {
    const got = [];
    for (const id of identities) got.push(await opensslAttempt(p.sbcPsk!, id, wrong));
    expect(got).toEqual(['20', '20', '20']);
  });

  it('alice still registers over TLS-PSK', async () => {
    const r = await registerSip({ idc: 'alice@lab.example', kc: keys['alice@lab.example']!, mechs: 'tls-psk;q=0.5', transport: 'udp', sbc: { host: '127.0.0.1', port: p.sbcSip! } });
    expect(r).toMatchObject({ ok: true, mechanism: 'tls-psk' });
  });
});
