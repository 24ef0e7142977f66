/** `keyswitch terminal register` handler: JSON lines, exit codes, bulk registrations from a keys file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTerminalRegister, type TerminalRegisterOptions } from '../../src/cli/terminal.js';
import { startLab, type Lab } from '../sbc/setup.js';

let lab: Lab;
let dir: string;
beforeAll(async () => {
  lab = await startLab();
  dir = mkdtempSync(join(tmpdir(), 'ks-term-'));
});
afterAll(async () => {
  await lab.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(o: Partial<TerminalRegisterOptions>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTerminalRegister({ proto: 'sip', sbc: `127.0.0.1:${lab.sbc.ports.udp}`, out: (l) => out.push(l), err: (l) => err.push(l), ...o });
  return { code, out, err };
}

describe('terminal register', () => {
  it('registers one terminal and prints one JSON line without the key', async () => {
    const kc = lab.provision('cli@lab.example');
    const r = await run({ id: 'cli@lab.example', key: kc.toString('hex'), mechs: 'app-hmac;q=0.5' });
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    const line = JSON.parse(r.out[0]!);
    expect(Object.keys(line).sort()).toEqual(['idc', 'idsp', 'mechanism', 'ms', 'ok', 'protocol', 'sessionKeyId']);
    expect(line).toMatchObject({ ok: true, protocol: 'sip', idc: 'cli@lab.example', idsp: 'sbc1.lab.example', mechanism: 'app-hmac' });
    expect(r.out[0]).not.toContain(kc.toString('hex'));
  });

  it('uses tls with the SBC certificate given as --ca-file, over TCP', async () => {
    const kc = lab.provision('cli-tls@lab.example');
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, lab.ca);
    const r = await run({ id: 'cli-tls@lab.example', key: kc.toString('base64url'), mechs: 'tls;q=1', transport: 'tcp', sbc: `127.0.0.1:${lab.sbc.ports.tcp}`, caFile: ca, idsp: 'sbc1.lab.example' });
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0]!)).toMatchObject({ ok: true, mechanism: 'tls' });
  });

  it('exits 2 when authentication fails, 1 for other errors', async () => {
    lab.provision('cli-wrong@lab.example');
    const wrong = await run({ id: 'cli-wrong@lab.example', key: randomBytes(32).toString('hex') });
    expect(wrong.code).toBe(2);
    expect(JSON.parse(wrong.out[0]!)).toMatchObject({ ok: false, authFailed: true, status: 401 });
    const unknown = await run({ id: 'cli-nobody@lab.example', key: randomBytes(32).toString('hex') });
    expect(unknown.code).toBe(2);
    // an unknown identity fails exactly as a wrong key does (docs/softswitch.md, "Unknown, disabled, locked")
    expect(JSON.parse(unknown.out[0]!)).toMatchObject({ ok: false, authFailed: true, status: 401 });
    const nothingInCommon = await run({ id: 'cli@lab.example', key: randomBytes(32).toString('hex'), mechs: 'ipsec-3gpp' });
    // the SBC refuses at s7 before the authenticator reaches the core: a negotiation failure, not an auth failure
    expect(nothingInCommon.code).toBe(1);
    expect(JSON.parse(nothingInCommon.out[0]!)).toMatchObject({ ok: false, authFailed: false, status: 494 });
    const unknownProto = await run({ proto: 'h225', id: 'x', key: 'y' });
    expect(unknownProto.code).toBe(1);
    expect(unknownProto.err.join()).toContain('--proto must be sip, mgcp, h248 or h323');
    const badKey = await run({ id: 'x@lab.example', key: 'not-a-key' });
    expect(badKey.code).toBe(1);
    expect(badKey.err.join()).not.toContain('not-a-key');
  });

  it('registers N provisioned terminals from a keys file at a rate, with progress on stderr', async () => {
    const lines = ['idc,key'];
    for (let i = 0; i < 20; i++) {
      const idc = `bulk${i}@lab.example`;
      lines.push(`${i % 2 ? `"${idc}"` : idc},${lab.provision(idc).toString('hex')}`);
    }
    const file = join(dir, 'keys.csv');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = await run({ keysFile: file, count: 15, rate: 200, mechs: 'tls-psk;q=0.5, app-hmac;q=0.3' });
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(15);
    expect(new Set(r.out.map((l) => JSON.parse(l).idc)).size).toBe(15);
    expect(r.out.every((l) => JSON.parse(l).mechanism === 'tls-psk')).toBe(true);
    expect(r.err.at(-1)).toBe('registered 15/15 ok=15 failed=0');
    const tooMany = await run({ keysFile: file, count: 50 });
    expect(tooMany.code).toBe(1);
  });
});
