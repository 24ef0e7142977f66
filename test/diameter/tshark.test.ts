import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startDiameterAucServer } from '../../src/adapters/diameter/auc-server.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { APP_CX, CMD_MULTIMEDIA_AUTH, DiameterPeer, FLAG_PROXIABLE } from '../../src/diameter/index.js';
import { cxHead, marVector } from '../../src/adapters/diameter/cx-auc.js';
import { CX_APPLICATION } from '../../src/diameter/identity.js';
import { DIAMETER_TLS_PORT, peerPsk, pskClientOptions } from '../../src/diameter/tls-psk.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { fakeAuc, tcpProxy } from './helpers.js';

const tshark = spawnSync('tshark', ['-v']).status === 0;
if (!tshark) console.warn('[keyswitch tests] tshark not installed: Diameter dissector checks SKIPPED');

const dir = mkdtempSync(join(tmpdir(), 'ks-diameter-'));
// KS_KEEP_PCAP=1 keeps the capture for a look in Wireshark.
afterAll(() => (process.env.KS_KEEP_PCAP ? console.warn(`pcap kept in ${dir}`) : rmSync(dir, { recursive: true, force: true })));

/** Runs a real CER/CEA, MAR/MAA (KS1 and Digest), SAR/SAA exchange through a recording relay. */
async function capture(): Promise<PcapPacket[]> {
  const { service } = fakeAuc();
  const server = await startDiameterAucServer({ port: 0, originHost: 'auc1.lab.example', originRealm: 'lab.example', service, hostIpAddresses: ['192.0.2.20'], peers: [{ originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] }] });
  const proxy = await tcpProxy(server.port);
  const packets: PcapPacket[] = [];
  const softswitch: [string, number] = ['192.0.2.10', 40001];
  const auc: [string, number] = ['192.0.2.20', 3868];
  proxy.tap((dir, chunk) => packets.push({ proto: 'tcp', src: dir === 'up' ? softswitch : auc, dst: dir === 'up' ? auc : softswitch, payload: Buffer.from(chunk) }));
  const client = new DiameterAucClient({
    peers: [{ host: '127.0.0.1', port: proxy.port }],
    originHost: 'ss1.lab.example',
    originRealm: 'lab.example',
    destinationRealm: 'lab.example',
    hostIpAddresses: ['192.0.2.10'],
  });
  try {
    await client.ready(3000);
    await client.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    await client.vector({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example' });
    await client.digest({ idc: 'carol@lab.example', username: 'carol', realm: 'lab.example', algorithm: 'MD5' });
    await client.registered({
      idc: 'alice@lab.example',
      idsp: 'sbc1.lab.example',
      ipc: '198.51.100.7',
      protocol: 'sip',
      contact: '<sip:alice@198.51.100.7:5060>',
      mechanism: 'app-hmac',
      expiresAt: Date.now() + 3600_000,
      rand: randomBytes(16),
    });
    await client.failed({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    await client.deregistered({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', protocol: 'sip' });
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
  return packets;
}

function fields(file: string, ...names: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-Y', 'diameter', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', ...names.flatMap((n) => ['-e', n])], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
}

describe.skipIf(!tshark)('tshark decodes our Diameter', () => {
  it('dissects CER/CEA, MAR/MAA, SAR/SAA with no malformed packet or error-level expert info', async () => {
    const file = join(dir, 'cx.pcap');
    writePcap(file, await capture());
    const errors = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(errors.trim()).toBe('');

    const cmds = fields(file, 'diameter.cmd.code', 'diameter.flags.request').map(([c, r]) => `${c}${r === 'True' || r === '1' ? 'R' : 'A'}`);
    expect(cmds).toEqual(expect.arrayContaining(['257R', '257A', '303R', '303A', '301R', '301A', '282R', '282A']));

    const verbose = execFileSync('tshark', ['-r', file, '-V', '-Y', 'diameter'], { encoding: 'utf8' });
    expect(verbose).toContain('Public-Identity: sip:alice@lab.example');
    expect(verbose).toMatch(/3GPP-SIP-Authentication-Scheme: KS1/);
    expect(verbose).toMatch(/3GPP-SIP-Authenticate: [0-9a-f]{32}/);
    expect(verbose).toMatch(/3GPP-SIP-Authorization: [0-9a-f]{32}/);
    expect(verbose).toMatch(/Server-Assignment-Type: REGISTRATION \(1\)/);
    expect(verbose).toMatch(/Result-Code: DIAMETER_AUTHORIZATION_REJECTED \(5003\)/);
    expect(verbose).toContain('Digest-HA1: ');
    expect(verbose).toMatch(/Host-IP-Address\(257\).*val=192\.0\.2\.10/);

    const pub = fields(file, 'diameter.Public-Identity').flat().filter(Boolean);
    expect(pub).toContain('sip:alice@lab.example');
    expect(fields(file, 'diameter.3GPP-SIP-Authenticate').flat().filter(Boolean).length).toBeGreaterThan(0);
  });
});

/**
 * The same Cx over TLS-PSK (RFC 6733 §13) through a recording relay, with the
 * client's TLS secrets written to a key log so that tshark can decrypt it.
 */
async function captureTls(keylog: string): Promise<PcapPacket[]> {
  const { service } = fakeAuc();
  const secret = randomBytes(32);
  const server = await startDiameterAucServer({
    port: 0,
    originHost: 'auc1.lab.example',
    originRealm: 'lab.example',
    service,
    hostIpAddresses: ['192.0.2.20'],
    peers: [{ originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] }],
    tlsPskSecret: secret,
  });
  const proxy = await tcpProxy(server.port);
  const packets: PcapPacket[] = [];
  const softswitch: [string, number] = ['192.0.2.10', 40002];
  const auc: [string, number] = ['192.0.2.20', DIAMETER_TLS_PORT];
  proxy.tap((dir, chunk) => packets.push({ proto: 'tcp', src: dir === 'up' ? softswitch : auc, dst: dir === 'up' ? auc : softswitch, payload: Buffer.from(chunk) }));
  const socket = tlsConnect({ host: '127.0.0.1', port: proxy.port, ...pskClientOptions('ss1.lab.example', peerPsk(secret, 'ss1.lab.example')) });
  socket.on('keylog', (line: Buffer) => appendFileSync(keylog, line));
  try {
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const local = { originHost: 'ss1.lab.example', originRealm: 'lab.example', hostIpAddresses: ['192.0.2.10'], applications: [CX_APPLICATION] };
    const peer = new DiameterPeer(socket, { local, role: 'initiator' });
    await new Promise<void>((resolve, reject) => peer.once('open', () => resolve()).once('closed', reject));
    const head = cxHead({ sessionId: 'ss1.lab.example;1;1', originHost: 'ss1.lab.example', originRealm: 'lab.example', destinationRealm: 'lab.example' });
    await peer.request({ commandCode: CMD_MULTIMEDIA_AUTH, applicationId: APP_CX, flags: FLAG_PROXIABLE, avps: [...head, ...marVector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' }, 'sip:ss1.lab.example')] });
    await peer.disconnect();
  } finally {
    socket.destroy();
    await proxy.close();
    await server.close();
  }
  return packets;
}

describe.skipIf(!tshark)('tshark decodes our Diameter over TLS-PSK', () => {
  it('decrypts the TLS 1.2 PSK session on port 5658 and dissects CER/CEA and MAR/MAA inside it', async () => {
    const file = join(dir, 'cx-tls.pcap');
    const keylog = join(dir, 'cx-tls.keys');
    writePcap(file, await captureTls(keylog));
    // Decode as Diameter inside TLS on 5658; tshark 4.0's RDP multitransport heuristic otherwise claims the CER.
    const opts = ['-o', `tls.keylog_file:${keylog}`, '-d', `tls.port==${DIAMETER_TLS_PORT},diameter`, '--disable-protocol', 'rdpmt'];
    const errors = execFileSync('tshark', ['-r', file, ...opts, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(errors.trim()).toBe('');
    const tls = execFileSync('tshark', ['-r', file, ...opts, '-Y', 'tls.handshake.ciphersuite', '-T', 'fields', '-e', 'tls.handshake.ciphersuite'], { encoding: 'utf8' });
    expect(tls).toMatch(/0x00a9|0x00a8|0xccab/); // a PSK AEAD suite (RFC 5487, RFC 7905)
    const cmds = execFileSync('tshark', ['-r', file, ...opts, '-Y', 'diameter', '-T', 'fields', '-E', 'occurrence=a', '-e', 'diameter.cmd.code', '-e', 'diameter.flags.request'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .map(([c, r]) => `${c}${r === 'True' || r === '1' ? 'R' : 'A'}`);
    expect(cmds).toEqual(expect.arrayContaining(['257R', '257A', '303R', '303A']));
    const verbose = execFileSync('tshark', ['-r', file, ...opts, '-V', '-Y', 'diameter'], { encoding: 'utf8' });
    expect(verbose).toContain('Public-Identity: sip:alice@lab.example');
    expect(verbose).toMatch(/3GPP-SIP-Authenticate: [0-9a-f]{32}/);
  });
});
