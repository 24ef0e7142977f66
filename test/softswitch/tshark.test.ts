/** What the softswitch sends, as Wireshark's SIP dissector reads it: no malformed packets, the fields where expected. */
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toB64u } from '../../src/crypto/ks1.js';
import { TerminalFlow } from '../../src/flow/terminal.js';
import { formatAuth, serialize, type SipResponse } from '../../src/sip/index.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { describeEngines } from '../helpers/engines.js';
import { fromB64u } from '../../src/crypto/ks1.js';
import { parseMechanisms } from '../../src/flow/mechanisms.js';
import { ALICE, Registration, SELF, Ua, world, type World, type RegisterOpts } from './harness.js';

const hasTshark = spawnSync('which', ['tshark']).status === 0;
if (!hasTshark) console.warn('[keyswitch tests] tshark not installed: softswitch dissector checks SKIPPED');
const d = (hasTshark ? describeEngines : (n: string, b: (c: never) => void) => describe.skip(n, () => b(undefined as never)));

d('softswitch wire format under tshark', (ctx) => {
  let w: World;
  let ua: Ua;
  const dir = mkdtempSync(join(tmpdir(), 'ss-tshark-'));
  const packets: PcapPacket[] = [];
  const phone: [string, number] = ['192.0.2.10', 5062];
  const ss: [string, number] = ['192.0.2.1', 5060];
  beforeAll(async () => {
    w = await world(ctx);
    ua = await Ua.udp();
  });
  afterAll(async () => {
    await ua.close();
    await w.close();
    await ctx.cleanup();
    if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  });

  async function exchange(r: Registration, o: RegisterOpts): Promise<SipResponse> {
    const req = r.request(o);
    const res = await ua.stack.send(req, { destination: { address: '127.0.0.1', port: w.ss.ports.udp! } });
    packets.push({ proto: 'udp', src: phone, dst: ss, payload: serialize(req) });
    packets.push({ proto: 'udp', src: ss, dst: phone, payload: res.source! });
    return res;
  }

  it('decodes the Digest and KS1 exchanges cleanly', async () => {
    const r = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c = await exchange(r, {});
    const ch = c.auth('WWW-Authenticate')[0]!.params;
    const H = (x: string) => createHash('sha256').update(x).digest('hex');
    const response = H(`${H(`${ALICE}:${ch.realm}:alice secret`)}:${ch.nonce}:00000001:abc:auth:${H('REGISTER:sip:lab.example')}`);
    const ok = await exchange(r, { headers: [['Authorization', formatAuth('Digest', { username: ALICE, realm: ch.realm!, nonce: ch.nonce!, uri: 'sip:lab.example', response, algorithm: 'SHA-256', qop: 'auth', nc: '00000001', cnonce: 'abc', opaque: ch.opaque! }, ['algorithm', 'qop', 'nc'])]] });
    expect(ok.status).toBe(200);

    const t = new TerminalFlow({ idc: ALICE, kc: w.kc, mechanisms: 'tls-psk;q=0.5' });
    const s1 = t.start();
    const k = new Registration(ua, w.ss.ports.udp!, ALICE);
    const c2 = await exchange(k, { headers: [['Authorization', formatAuth('KS1', { username: ALICE, n1: toB64u(s1.n1), ts: String(s1.ts) })]] });
    const p = c2.auth('WWW-Authenticate')[0]!.params;
    const offered = parseMechanisms(c2.get('Security-Server')!);
    if (!offered.ok) throw new Error('bad offer');
    const s7 = t.onChallenge({ idc: ALICE, idsp: p.realm!, n1: fromB64u(p.n1!)!, n2: fromB64u(p.n2!)!, ts: Number(p.ts), rand: fromB64u(p.nonce!)!, offered: offered.list });
    if (!s7.ok) throw new Error(s7.error);
    const v = s7.value;
    const ok2 = await exchange(k, { headers: [
      ['Authorization', formatAuth('KS1', { username: ALICE, realm: SELF, nonce: toB64u(v.rand!), response: toB64u(v.authenticator), n1: toB64u(v.n1), n2: toB64u(v.n2), ts: String(v.ts) })],
      ['Security-Client', v.mechs.text],
    ] });
    expect(ok2.status).toBe(200);

    const file = join(dir, 'softswitch.pcap');
    writePcap(file, packets);
    const errors = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(errors.trim()).toBe('');
    const rows = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=;',
      '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.auth.scheme', '-e', 'sip.auth.algorithm', '-e', 'sip.auth.qop', '-e', 'sip.contact.uri', '-e', 'sip.Security-Server', '-e', 'sip.Authentication-Info'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('|'));
    expect(rows.map((r) => r[0] || r[1])).toEqual(['REGISTER', '401', 'REGISTER', '200', 'REGISTER', '401', 'REGISTER', '200']);
    // the Digest 401: two challenges, SHA-256 first
    expect(rows[1]![2]).toBe('Digest;Digest');
    expect(rows[1]![3]).toBe('SHA-256;MD5');
    expect(rows[3]![5]).toContain('sip:alice@192.0.2.10:5060');
    // the KS1 401 and 200 carry the KS1 scheme
    expect(rows[5]![2]).toBe('KS1');
    expect(rows[7]![6]).toBe('tls-psk;q=0.5');
    expect(rows[7]![7]).toMatch(/^KS1 n1="/);
  });
});
