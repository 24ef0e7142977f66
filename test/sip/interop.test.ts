/** Interop with real tools: tshark decodes what we serialise; sipp talks to a UAS built on this stack. */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { writePcap } from '../helpers/pcap.js';
import { createRequest, createResponse, createSipStack, createUdpTransport, serialize, formatAuth } from '../../src/sip/index.js';

const has = (bin: string): boolean => spawnSync('which', [bin]).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'sip-interop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('interop', () => {
  it.skipIf(!has('tshark'))('tshark decodes REGISTER/401/REGISTER/200 without malformed or error expert items', () => {
    const ua: [string, number] = ['192.0.2.10', 5062];
    const sbc: [string, number] = ['192.0.2.1', 5060];
    const common: Array<[string, string]> = [
      ['Via', 'SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKabc1;rport'],
      ['Max-Forwards', '70'],
      ['To', '<sip:alice@lab.example>'],
      ['From', '<sip:alice@lab.example>;tag=a73kszlfl'],
      ['Call-ID', '1j9FpLxk3uxtm8tn@192.0.2.10'],
      ['Contact', '<sip:alice@192.0.2.10:5062>'],
      ['Expires', '3600'],
    ];
    const r1 = createRequest('REGISTER', 'sip:lab.example', [...common, ['CSeq', '1 REGISTER'],
      ['Authorization', formatAuth('KS1', { username: 'alice@lab.example', realm: 'sbc1.lab.example', n1: 'q83b8Tw4ZVcEDm0Z1sWabg', ts: '1764097200' })]]);
    const c401 = createResponse(r1, 401, undefined, { toTag: 'sbc401', headers: [
      ['WWW-Authenticate', formatAuth('KS1', { realm: 'sbc1.lab.example', nonce: 'Wm9vb29vb29vb29vb29vbw', n1: 'q83b8Tw4ZVcEDm0Z1sWabg', n2: 'bjJ2YWx1ZXZhbHVldmFsdQ', ts: '1764097201', algorithm: 'ks1' })],
      ['Security-Server', 'tls-psk;q=0.5, app-hmac;q=0.3'],
    ] });
    const r2 = createRequest('REGISTER', 'sip:lab.example', [...common.map(([n, v]) => [n, v.replace('abc1', 'abc2')] as [string, string]), ['CSeq', '2 REGISTER'],
      ['Authorization', formatAuth('KS1', { username: 'alice@lab.example', realm: 'sbc1.lab.example', nonce: 'Wm9vb29vb29vb29vb29vbw', response: 'AAECAwQFBgcICQoLDA0ODw', n1: 'bmV3bjFuZXduMW5ld24xbg', n2: 'bjJ2YWx1ZXZhbHVldmFsdQ', ts: '1764097202' })],
      ['Security-Client', 'tls-psk;q=0.5, app-hmac;q=0.3']]);
    const ok = createResponse(r2, 200, undefined, { toTag: 'sbc200', headers: [
      ['Contact', '<sip:alice@192.0.2.10:5062>;expires=3600'],
      ['Authentication-Info', formatAuth('KS1', { n1: 'bmV3bjFuZXduMW5ld24xbg', n2: 'bjJfbmV3bjJfbmV3bjJfbg', ts: '1764097203', ekc: 'ZWtj', mech: 'tls-psk', mechs: 'tls-psk;q=0.5,app-hmac;q=0.3', mac: 'bWFj' })],
      ['Security-Server', 'tls-psk;q=0.5'],
    ] });
    const file = join(dir, 'register.pcap');
    writePcap(file, [
      { proto: 'udp', src: ua, dst: sbc, payload: serialize(r1) },
      { proto: 'udp', src: sbc, dst: ua, payload: serialize(c401) },
      { proto: 'udp', src: ua, dst: sbc, payload: serialize(r2) },
      { proto: 'udp', src: sbc, dst: ua, payload: serialize(ok) },
    ]);
    const errors = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(errors.trim()).toBe('');
    const fields = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.Call-ID', '-e', 'sip.CSeq.seq', '-e', 'sip.auth.scheme', '-e', 'sip.auth.username', '-e', 'sip.auth.nonce'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('|').map((f) => f.replace(/^"|"$/g, '')));
    expect(fields.map((f) => f[0] || f[1])).toEqual(['REGISTER', '401', 'REGISTER', '200']);
    expect(new Set(fields.map((f) => f[2]))).toEqual(new Set(['1j9FpLxk3uxtm8tn@192.0.2.10']));
    expect(fields.map((f) => f[3])).toEqual(['1', '1', '2', '2']);
    expect(fields[0]![4]).toBe('KS1');
    expect(fields[0]![5]).toBe('alice@lab.example');
    expect(fields[1]![6]).toBe('Wm9vb29vb29vb29vb29vbw');
  });

  it.skipIf(!has('sipp'))('sipp as UAC registers with a UAS built on this stack over UDP', async () => {
    let registers = 0;
    const stack = createSipStack({
      transports: [await createUdpTransport()],
      onRequest: (req, ctx) => {
        if (req.method === 'REGISTER') registers++;
        ctx.respond(200, undefined, { toTag: 'uas', headers: [['Contact', req.get('Contact') ?? '<sip:x@127.0.0.1>'], ['Expires', '3600']] });
      },
    });
    const port = stack.transports[0]!.port;
    const free = dgram.createSocket('udp4');
    await new Promise<void>((r) => free.bind(0, '127.0.0.1', () => r()));
    const sippPort = free.address().port;
    await new Promise<void>((r) => free.close(() => r()));
    const scenario = join(dir, 'register.xml');
    writeFileSync(scenario, `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@lab.example>;tag=[pid]SIPpTag00[call_number]
      To: <sip:alice@lab.example>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 3600
      Content-Length: [len]

    ]]>
  </send>
  <recv response="200" />
</scenario>
`);
    const code = await new Promise<number>((resolve) => {
      const p = spawn('sipp', ['127.0.0.1:' + port, '-sf', scenario, '-m', '2', '-i', '127.0.0.1', '-p', String(sippPort), '-timeout', '20s', '-nostdin', '-trace_err', '-error_file', join(dir, 'sipp-err.log')], { stdio: 'ignore', cwd: dir });
      p.on('exit', (c) => resolve(c ?? -1));
    });
    await stack.close();
    expect(code).toBe(0);
    expect(registers).toBe(2);
  });
});
