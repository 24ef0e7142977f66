/** tshark's SIP dissector reads a full KS1 flow (terminal ↔ SBC ↔ core) without malformed packets or expert errors. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { registerSip } from '../../src/terminal/register.js';
import { startFakeCore, type FakeCore } from './fake-core.js';
import { startRelay, type Relay } from './relay.js';
import { FAST, IDSP } from './setup.js';

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const tshark = hasTshark();
if (!tshark) console.warn('tshark not installed: skipping the SBC dissector checks');

let dir: string;
let core: FakeCore;
let sbc: RunningSbc;
let toSbc: Relay;
let toCore: Relay;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ks-sbc-tshark-'));
  const ksp = randomBytes(32);
  core = await startFakeCore({ idsp: IDSP, ksp });
  toCore = await startRelay({ host: '127.0.0.1', port: core.port });
  sbc = await startSbc({
    idsp: IDSP, ksp, untrusted: { udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: 0 },
    softswitch: { host: '127.0.0.1', port: toCore.port }, tls: { dataDir: dir }, timers: FAST,
  });
  toSbc = await startRelay({ host: '127.0.0.1', port: sbc.ports.udp! });
});
afterAll(async () => {
  await sbc.close();
  await core.close();
  await toSbc.close();
  await toCore.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!tshark)('tshark', () => {
  it('decodes s1, s6, s7, s10, the core link and the app-hmac messages cleanly', async () => {
    const idc = 'wire@lab.example';
    const kc = randomBytes(32);
    core.auc.terminals.set(idc, { kc });
    const r = await registerSip({ idc, kc, transport: 'udp', mechs: 'tls-psk;q=0.2, app-hmac;q=0.3', sbc: { host: '127.0.0.1', port: toSbc.port }, timers: FAST });
    expect(r).toMatchObject({ ok: true, mechanism: 'app-hmac' });
    // lay the two links out as a carrier would see them: terminal 192.0.2.10 → SBC 192.0.2.1 | 10.0.0.1 → softswitch 10.0.0.2
    const T: [string, number] = ['192.0.2.10', 5060];
    const S: [string, number] = ['192.0.2.1', 5060];
    const SC: [string, number] = ['10.0.0.1', 5060];
    const C: [string, number] = ['10.0.0.2', 5060];
    const packets: PcapPacket[] = [...toSbc.packets.map((p) => ({ ...p, src: p.dir === 'up' ? T : S, dst: p.dir === 'up' ? S : T })),
      ...toCore.packets.map((p) => ({ ...p, src: p.dir === 'up' ? SC : C, dst: p.dir === 'up' ? C : SC }))]
      .sort((a, b) => a.order - b.order)
      .map(({ proto, src, dst, payload }) => ({ proto, src, dst, payload }));
    const file = join(dir, 'flow.pcap');
    writePcap(file, packets);
    const bad = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(bad).toBe('');
    const fields = execFileSync('tshark', ['-r', file, '-Y', 'sip', '-T', 'fields', '-E', 'separator=|',
      '-e', 'ip.src', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.WWW-Authenticate', '-e', 'sip.Authorization', '-e', 'sip.Authentication-Info', '-e', 'sip.Security-Server'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('|'));
    expect(fields.length).toBe(packets.length);
    const fromTerminal = fields.filter((f) => f[0] === '192.0.2.10');
    expect(fromTerminal.map((f) => f[1])).toEqual(['REGISTER', 'REGISTER', 'REGISTER', 'OPTIONS']);
    const toTerminal = fields.filter((f) => f[0] === '192.0.2.1');
    expect(toTerminal.map((f) => f[2])).toEqual(['401', '200', '200', '200']);
    expect(toTerminal[0]![3]).toMatch(/^KS1 realm="sbc1\.lab\.example", nonce="[\w-]{22}", n1="[\w-]{22}", n2="[\w-]{22}", ts="\d+", algorithm=ks1$/);
    expect(toTerminal[0]![6]).toBe('tls-psk;q=0.5, app-hmac;q=0.3');
    expect(toTerminal[1]![5]).toMatch(/^KS1 n1="[\w-]{22}", n2="[\w-]{22}", ts="\d+", ekc="[\w-]{80}", mech="app-hmac", mechs="tls-psk;q=0\.2,app-hmac;q=0\.3", mac="[\w-]{22}"$/);
    expect(toTerminal[1]![6]).toBe('app-hmac;q=0.3');
    expect(fromTerminal[1]![4]).toMatch(/^KS1 username="wire@lab\.example", realm="sbc1\.lab\.example", nonce=/);
    // nothing private on the untrusted link
    for (const p of toSbc.packets) expect(p.payload.toString('latin1')).not.toMatch(/^P-KS-/im);
    // the core link carries them
    expect(toCore.packets.some((p) => /^P-KS-Keys: ekc="/m.test(p.payload.toString('latin1')))).toBe(true);
  });
});
